"""`modelrollout operator`: run the kopf operator with this project's handlers."""

from __future__ import annotations

import argparse

from .main import registry


def _arguments(parser: argparse.ArgumentParser) -> None:
    ha = parser.add_mutually_exclusive_group()
    ha.add_argument(
        "--standalone",
        action="store_true",
        help="no peering: this must be the only replica (tests, local clusters)",
    )
    ha.add_argument(
        "--peering",
        default="model-rollout",
        metavar="NAME",
        help="kopf peering object for HA: one active replica at a time (default: model-rollout)",
    )
    parser.add_argument(
        "--priority", type=int, default=0, help="peering priority of this replica (default: 0)"
    )
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="serve only these namespaces (repeatable; default: the whole cluster)",
    )


def kopf_options(args: argparse.Namespace) -> dict[str, object]:
    """kopf.run keyword arguments for the parsed command line."""
    options: dict[str, object] = {"priority": args.priority}
    if args.standalone:
        options["standalone"] = True
    else:
        options["peering_name"] = args.peering
    if args.namespace:
        options["namespaces"] = list(args.namespace)
    else:
        options["clusterwide"] = True
    return options


@registry.command("operator", help="run the operator (kopf)", arguments=_arguments)
def operator(args: argparse.Namespace) -> int:
    import kopf

    from .. import handlers  # noqa: F401  (registers the handlers with kopf)

    kopf.run(**kopf_options(args))  # type: ignore[arg-type]
    return 0
