"""kopf handlers: `kopf run -m modelrollout_operator.handlers` (or `modelrollout operator`)."""

from . import experiments, modelversions, starting  # noqa: F401  (registers the handlers)
