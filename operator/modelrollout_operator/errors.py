"""The operator's errors: every one derives from `ModelRolloutError`, so a caller that reports
failures (the `modelrollout` command line, the demo) catches one name and still lets bugs
(`TypeError`, `KeyError`, ...) through. Each subclass keeps the built-in it refines
(`ValueError` for bad input, `RuntimeError` for a failed step) for callers that catch those.
"""

from __future__ import annotations


class ModelRolloutError(Exception):
    """Base of every error the operator, its command line and local mode raise on purpose."""
