"""Loaded by the pods' Python (PYTHONPATH): a wildcard bind binds the pod's own address.

Pods here share the host's network namespace; each has its own loopback address as its pod
IP (INPOD_POD_IP). In a cluster, `0.0.0.0:8080` in a pod binds the pod's interfaces only; here it
would take the port on every address of the machine (and collide with the next replica), so a
bind to the wildcard address is turned into a bind to the pod IP. Nothing else changes.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_POD_IP = os.environ.get("INPOD_POD_IP")
_WILDCARDS = ("", "0.0.0.0", "::")
_bind = socket.socket.bind


def _pod_bind(self: socket.socket, address: Any) -> None:
    if _POD_IP and isinstance(address, tuple) and address and address[0] in _WILDCARDS:
        if self.family == socket.AF_INET:
            address = (_POD_IP, *address[1:])
        elif self.family == socket.AF_INET6:
            address = (f"::ffff:{_POD_IP}", *address[1:])
    _bind(self, address)


if _POD_IP:
    socket.socket.bind = _pod_bind  # type: ignore[method-assign,assignment]
