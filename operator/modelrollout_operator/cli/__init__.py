"""The `modelrollout` command line. Each imported module registers its subcommands."""

from . import control, crds, demo, dispatching, operating, validating, viewing  # noqa: F401  (registers the subcommands)
from .main import Registry, main, registry

__all__ = ["Registry", "main", "registry"]
