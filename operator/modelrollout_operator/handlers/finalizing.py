"""No finalizers: deleting a ModelVersion, an Experiment or their namespace never waits for us.

kopf marks every object that has a daemon with its finalizer so it can stop the daemon before
the object goes. Our daemons need no such goodbye: each pass reads the object first and ends
when it is gone, the routing ConfigMap of a deleted Experiment is deleted by an optional
handler, and what the operator creates beside a ModelVersion is owned by it (garbage
collected). With the finalizer, uninstalling the operator first left every ModelVersion,
Experiment and their namespace hanging in Terminating. So the daemon handlers are registered
as not requiring one, and kopf removes the finalizer it put on objects before (an upgrade).
"""

from __future__ import annotations

import dataclasses

import kopf


def release_daemons(registry: kopf.OperatorRegistry) -> int:
    """Mark every daemon and timer of `registry` as needing no finalizer; how many were."""
    spawning = getattr(registry, "_spawning", None)
    handlers = getattr(spawning, "_handlers", None)
    if not isinstance(handlers, list):  # kopf changed inside: fail loudly, never silently
        raise RuntimeError("kopf's registry has no spawning handlers list: check finalizing.py")
    released = 0
    for index, handler in enumerate(handlers):
        if getattr(handler, "requires_finalizer", False):
            handlers[index] = dataclasses.replace(handler, requires_finalizer=False)
            released += 1
    return released
