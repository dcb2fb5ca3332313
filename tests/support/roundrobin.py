"""A round-robin TCP front on 127.0.0.1, as a Kubernetes Service spreads connections over pods.

Each accepted connection goes to the next backend in turn; a backend that refuses the
connection (a killed replica) is skipped, as endpoints drop a pod that is gone. It runs as a
child process (`python tests/support/roundrobin.py PORT...`, printing its own port), so the
test's client and the front do not share one interpreter lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class _Front:
    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self._next = 0

    async def serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in range(len(self.ports)):
            port = self.ports[self._next % len(self.ports)]
            self._next += 1
            try:
                upstream = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            break
        if upstream is None:
            client_w.close()
            return
        up_r, up_w = upstream
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _main(ports: list[int]) -> None:
    front = _Front(ports)
    server = await asyncio.start_server(front.serve, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


@dataclass
class RoundRobinFront:
    port: int
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def round_robin(ports: list[int]) -> Iterator[RoundRobinFront]:
    from tests.support.processes import die_with_parent

    process = subprocess.Popen(
        [sys.executable, str(Path(__file__)), *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError("the round-robin front did not start")
        yield RoundRobinFront(int(line), process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        asyncio.run(_main([int(p) for p in sys.argv[1:]]))
