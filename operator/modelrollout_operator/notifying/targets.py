"""Which receivers get a notification: the Experiment's own and the operator's defaults. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from ..api.v1alpha1 import Notify, NotifyOn, Webhook


def receivers(notify: Notify | None, defaults: Sequence[Webhook], kind: NotifyOn) -> list[Webhook]:
    """The webhooks interested in `kind`, defaults first, each URL once."""
    out: list[Webhook] = []
    seen: set[tuple[str, str]] = set()
    for hook in [*defaults, *(notify.webhooks if notify is not None else [])]:
        key = (hook.url, hook.format.value)
        if key in seen or (hook.events is not None and kind not in hook.events):
            continue
        seen.add(key)
        out.append(hook)
    return out
