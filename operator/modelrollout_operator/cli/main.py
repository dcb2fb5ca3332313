"""The `modelrollout` command line: a registry of subcommands and the entry point.

Each `cli/<name>.py` module registers its subcommands on `registry` when imported; adding a
command is one import line in `cli/__init__.py`. Two kinds of command:

- `@registry.command(name, help=..., arguments=fn)`: argparse parses its arguments and the
  function gets the namespace;
- `@registry.passthrough(name, help=...)`: the raw arguments after the name go to the
  function untouched (for handing over to another component's own command line).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PROG = "modelrollout"

Run = Callable[[argparse.Namespace], int]
RunRaw = Callable[[list[str]], int]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Run
    arguments: Arguments | None = None


@dataclass(frozen=True)
class Passthrough:
    name: str
    help: str
    run: RunRaw


class Registry:
    """Subcommands by name; a name can be registered once."""

    def __init__(self) -> None:
        self._commands: dict[str, Command | Passthrough] = {}

    def _add(self, entry: Command | Passthrough) -> None:
        if entry.name in self._commands:
            raise ValueError(f"subcommand {entry.name!r} is registered twice")
        self._commands[entry.name] = entry

    def command(
        self, name: str, *, help: str, arguments: Arguments | None = None
    ) -> Callable[[Run], Run]:
        def register(run: Run) -> Run:
            self._add(Command(name, help, run, arguments))
            return run

        return register

    def passthrough(self, name: str, *, help: str) -> Callable[[RunRaw], RunRaw]:
        def register(run: RunRaw) -> RunRaw:
            self._add(Passthrough(name, help, run))
            return run

        return register

    def names(self) -> list[str]:
        return sorted(self._commands)

    def get(self, name: str) -> Command | Passthrough | None:
        return self._commands.get(name)

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=PROG,
            description="Progressive delivery of ML models on Kubernetes.",
        )
        parser.add_argument(
            "-v", "--verbose", action="count", default=0, help="log more (-vv: debug)"
        )
        subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name in self.names():
            entry = self._commands[name]
            sub = subparsers.add_parser(name, help=entry.help, description=entry.help)
            if isinstance(entry, Command) and entry.arguments is not None:
                entry.arguments(sub)
        return parser


registry = Registry()


def _configure_logging(verbosity: int) -> None:
    # Quiet by default: warnings only; -v info, -vv debug. Output goes to stderr.
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run `modelrollout ARGV...` and return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    entry = registry.get(args_list[0]) if args_list else None
    if isinstance(entry, Passthrough):
        return entry.run(args_list[1:])
    parser = registry.parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as stop:  # --help (0) and bad arguments (2)
        return stop.code if isinstance(stop.code, int) else 2
    _configure_logging(args.verbose)
    command = registry.get(args.command) if args.command else None
    if not isinstance(command, Command):
        parser.print_help(sys.stderr)
        return 2
    return command.run(args)
