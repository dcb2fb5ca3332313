#!/usr/bin/env python3
"""Build the Grafana dashboards into charts/model-rollout/dashboards/ (or check for drift).

python tools/build_dashboards.py          # write the JSON files
python tools/build_dashboards.py --check  # exit 1 when the committed files drift
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rollout_dashboards.rendering import drifted, write_all

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "charts" / "model-rollout" / "dashboards"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_DIR, help="dashboard directory")
    parser.add_argument("--check", action="store_true", help="only report drift, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = drifted(args.output)
        for problem in problems:
            print(f"dashboard drift: {problem}", file=sys.stderr)
        if problems:
            print("run: python tools/build_dashboards.py", file=sys.stderr)
        return 1 if problems else 0
    for path in write_all(args.output):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
