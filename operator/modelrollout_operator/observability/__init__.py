"""The operator's own metrics (contracts.md §1), health endpoints and logging."""

from .logs import configure_logging
from .metrics import OperatorMetrics
from .serving import HealthServer

__all__ = ["HealthServer", "OperatorMetrics", "configure_logging"]
