"""Operator at scale: N concurrent Experiments, the real operator process, measured truthfully.

    .venv/bin/python benchmarks/bench_operator.py --counts 100 500 1000 --interval 10 \
        --duration 60 [--prometheus fake|real] [--restart] [--regression]

Each part runs in a process of its own, so none steals the others' event loop:
- the cluster: kmock's emulator (keyed reads; see operator_bench/cluster.py) + a kubelet
  stand-in that makes Deployments ready;
- the operator: `kopf run -A --standalone -m modelrollout_operator.handlers`;
- Prometheus: `fake` (default) is a small HTTP API answering every instant query at once,
  because what is measured is the operator, not Prometheus; `real` is Debian's prometheus
  scraping a metric source this script feeds, for its query load at small N;
- this driver, which creates 2 ModelVersions and N Experiments (canaries held on their first
  step by a 1 h bake, analysed every interval), waits for all N to be Progressing, lets one
  interval pass, then measures for --duration seconds.

Figures, all over the measured window only:
- lag p50/p99: how late a pass starts against its schedule, from the operator's
  `modelrollout_analysis_lag_seconds` histogram (interpolated within buckets, as PromQL's
  histogram_quantile does); status gap: from status, the time between consecutive analyses
  of one Experiment minus the interval (what a user sees: lag + pass time + jitter);
- pass p50/p99: `modelrollout_reconcile_duration_seconds{kind="experiment"}`;
- RSS: the operator's VmRSS from /proc (peak and last); CPU: cores used by each process;
- Prometheus queries/s; passes/s and analyses/s achieved against N / interval expected.

--restart measures after replacing the operator process once the N Experiments are running
(every daemon starts at once; rows marked R).

--regression adds a scenario with a real Prometheus: time from an accuracy regression's onset
to 0% candidate weight in the routing table, next to interval x failureLimit.

Not a test: it prints figures. On a small machine the three processes share the cores, so the
CPU column says which of them bounds the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from operator_bench.scaling import ScaleResult, measure  # noqa: E402


def _s(value: float | None, unit: float = 1000.0, capped: bool = False) -> str:
    """Milliseconds; '>' marks a lower bound (the quantile is past the histogram's top bucket)."""
    return "-" if value is None else f"{'>' if capped else ''}{value * unit:.0f}"


def header() -> str:
    return (f"{'N':>5} {'prom':>4} {'start s':>7} {'lag p50':>7} {'lag p99':>7} {'gap p50':>7} "
            f"{'gap p99':>7} {'pass50':>6} {'pass99':>6} {'RSS pk':>6} {'RSS end':>7} "
            f"{'q/s':>6} {'pass/s':>6} {'anal/s':>6} {'expect':>6} {'cpu op':>6} "
            f"{'cpu k8s':>7} {'cpu prom':>8}")  # fmt: skip


def row(r: ScaleResult) -> str:
    return (f"{r.n:>5}{'R' if r.restarted else ' '}{r.prometheus:>4} {r.startup_s:>7.1f} {_s(r.lag_p50, capped='lag_p50' in r.capped):>7} "
            f"{_s(r.lag_p99, capped='lag_p99' in r.capped):>7} {_s(r.status_gap_p50):>7} {_s(r.status_gap_p99):>7} "
            f"{_s(r.pass_p50, capped='pass_p50' in r.capped):>6} {_s(r.pass_p99, capped='pass_p99' in r.capped):>6} {r.rss_peak_mb:>6.0f} {r.rss_end_mb:>7.0f} "
            f"{r.prom_qps:>6.0f} {r.passes_per_s:>6.1f} {r.analyses_per_s:>6.1f} "
            f"{r.expected_per_s:>6.1f} {r.cpu_operator:>6.2f} {r.cpu_cluster:>7.2f} "
            f"{r.cpu_prometheus:>8.2f}")  # fmt: skip


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--interval", type=int, default=10, help="analysis interval (s)")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds per N")
    parser.add_argument("--prometheus", choices=("fake", "real"), default="fake")
    parser.add_argument(
        "--regression",
        action="store_true",
        help="also time a regression's onset to 0%% weight (real Prometheus)",
    )
    parser.add_argument("--no-scale", action="store_true", help="skip the N runs")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="measure after replacing the operator process (all daemons restart)",
    )
    args = parser.parse_args()
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the child processes are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    if not args.no_scale:
        print(f"interval {args.interval}s, {args.duration:.0f}s measured per N; times in ms "
              "unless marked; RSS MiB; cpu in cores", flush=True)  # fmt: skip
        print(header(), flush=True)
        for n in args.counts:
            result = asyncio.run(
                measure(n, args.interval, args.duration, args.prometheus, restart=args.restart)
            )
            print(row(result), flush=True)
    if args.regression:
        from operator_bench.regressing import report, time_to_zero

        print(report(asyncio.run(time_to_zero())), flush=True)


if __name__ == "__main__":
    main()
