"""`modelrollout get experiment NAME [--watch]` and `modelrollout list`: a live view.

From the cluster (the Experiment, its status and its Events), or with `--local DIR` from the
snapshots the demo writes (`DIR/experiments/NAME.json`, one per Experiment, rewritten every
pass). `--watch` redraws in place on a terminal (ANSI home + clear, no curses) and prints a
new view only when it changed otherwise; it ends when the Experiment is finished and its
undo window is over. Also `kubectl modelrollout ...` (the `kubectl-modelrollout` script).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ..api.v1alpha1 import TERMINAL_PHASES
from ..k8s.client import EVENTS, EXPERIMENTS, Connection, KubeClient, KubeError
from ..rollout.holding import undo_open
from ..settings import OperatorSettings
from .liveview import parse_status, render_experiment, render_list
from .main import registry

KINDS = ("experiment", "experiments", "mexp", "exp", "experiment.modelrollout.dev")
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: redraw in place

Snapshot = tuple[dict[str, Any] | None, list[dict[str, Any]]]


# -- sources ----------------------------------------------------------------------------


def local_dir(root: Path) -> Path:
    sub = root / "experiments"
    return sub if sub.is_dir() else root


def read_local(root: Path, name: str) -> Snapshot:
    path = local_dir(root) / f"{name}.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, []
    return doc, list(doc.get("events") or [])


def list_local(root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(local_dir(root).glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out


async def read_cluster(client: KubeClient, namespace: str, name: str) -> Snapshot:
    body = await client.get(EXPERIMENTS, namespace, name)
    if body is None:
        return None, []
    try:
        items = await client.list(EVENTS, namespace)
    except KubeError:
        items = []  # no right to list events: the view goes on without them
    mine = [
        e
        for e in items
        if (e.get("involvedObject") or {}).get("name") == name
        and (e.get("involvedObject") or {}).get("kind") in (None, "Experiment")
    ]
    mine.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return body, mine


# -- drawing ----------------------------------------------------------------------------


def finished(body: Mapping[str, Any], now: datetime) -> bool:
    st = parse_status(body.get("status"))
    return st.phase in TERMINAL_PHASES and not undo_open(st, now)


async def watch(
    fetch: Callable[[], Any],
    out: TextIO,
    *,
    follow: bool,
    interval: float,
    tty: bool,
    what: str,
) -> int:
    last: str | None = None
    while True:
        body, events = await fetch()
        now = datetime.now(UTC)
        if body is None:
            print(f"modelrollout get: {what} not found", file=sys.stderr)
            return 1
        text = render_experiment(body, events, now)
        if not follow:
            out.write(text)
            return 0
        if tty:
            out.write(CLEAR + text)  # redrawn in place: the clocks ("5s ago") tick on
        else:
            # Piped: a new view only when the object or its events changed, not the clocks.
            seen = json.dumps([body.get("spec"), body.get("status"), events], sort_keys=True)
            if seen != last:
                out.write(f"=== {now:%H:%M:%S}\n{text}")
            last = seen
        out.flush()
        if finished(body, now):
            return 0
        await asyncio.sleep(interval)


def _client() -> KubeClient:
    return KubeClient(Connection.discover(OperatorSettings()))


async def _get(args: argparse.Namespace) -> int:
    out = sys.stdout
    tty = out.isatty()
    if args.local is not None:
        root = Path(args.local)

        async def fetch_local() -> Snapshot:
            return read_local(root, args.name)

        return await watch(fetch_local, out, follow=args.watch, interval=args.interval,
                           tty=tty, what=f"Experiment {args.name} in {root}")  # fmt: skip
    namespace = args.namespace or OperatorSettings().default_namespace
    client = _client()
    try:

        async def fetch() -> Snapshot:
            return await read_cluster(client, namespace, args.name)

        return await watch(fetch, out, follow=args.watch, interval=args.interval, tty=tty,
                           what=f"Experiment {namespace}/{args.name}")  # fmt: skip
    except KubeError as exc:
        print(f"modelrollout get: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.close()


def _get_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, metavar="experiment", help="what to show")
    parser.add_argument("name", metavar="NAME", help="name of the Experiment")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
    parser.add_argument("-w", "--watch", action="store_true",
                        help="redraw until the Experiment is finished (Ctrl-C stops)")  # fmt: skip
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between redraws")
    parser.add_argument("--local", metavar="DIR", default=None,
                        help="read the demo's snapshots in DIR (its --workdir) instead")  # fmt: skip


@registry.command(
    "get",
    help="show an Experiment live: step, weights, verdicts with their numbers, events",
    arguments=_get_arguments,
)
def get(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_get(args))
    except KeyboardInterrupt:
        return 0


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    parser.add_argument("--local", metavar="DIR", default=None,
                        help="list the demo's Experiments in DIR (its --workdir)")  # fmt: skip


async def _list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.local is not None:
        sys.stdout.write(render_list(list_local(Path(args.local)), now))
        return 0
    namespace = (
        None if args.all_namespaces else (args.namespace or OperatorSettings().default_namespace)
    )
    client = _client()
    try:
        bodies = await client.list(EXPERIMENTS, namespace)
    except KubeError as exc:
        print(f"modelrollout list: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    bodies.sort(key=lambda b: (b["metadata"].get("namespace", ""), b["metadata"]["name"]))
    sys.stdout.write(render_list(bodies, now))
    return 0


@registry.command("list", help="list Experiments with phase, step, weight and last verdict",
                  arguments=_list_arguments)  # fmt: skip
def list_experiments(args: argparse.Namespace) -> int:
    return asyncio.run(_list(args))
