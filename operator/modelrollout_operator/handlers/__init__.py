"""kopf handlers: `kopf run -m modelrollout_operator.handlers` (or `modelrollout operator`)."""

import kopf

from . import experiments, models, modelversions, starting  # noqa: F401  (registers the handlers)
from .finalizing import release_daemons

release_daemons(kopf.get_default_registry())
