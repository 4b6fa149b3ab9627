"""A lossy, delaying TCP proxy between devices and the broker (asyncio, loopback only).

Every chunk of bytes is held back a random few milliseconds, and every connection is cut
after a random short life, mid-packet or not, as a phone losing signal would be.
"""

from __future__ import annotations

import asyncio
import random
import threading
from contextlib import suppress

from core.process import free_port


class LossyProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        delay_s: tuple[float, float] = (0.0, 0.03),
        life_s: tuple[float, float] = (0.3, 1.5),
        seed: int = 4,
    ) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.delay_s = delay_s
        self.life_s = life_s
        self.rng = random.Random(seed)
        self.lossy = True
        self.connections = 0
        self.cut = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LossyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def calm(self) -> None:
        """Stop cutting new connections (bytes are still delayed)."""
        self.lossy = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        life = self.rng.uniform(*self.life_s) if self.lossy else None
        _, pending = await asyncio.wait(pumps, timeout=life, return_when=asyncio.FIRST_COMPLETED)
        if pending and life is not None:
            self.cut += 1
        for task in pending:
            task.cancel()
        for w in (writer, up_writer):
            with suppress(Exception):
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, asyncio.IncompleteReadError):
            while chunk := await reader.read(4096):
                await asyncio.sleep(self.rng.uniform(*self.delay_s))
                writer.write(chunk)
                await writer.drain()
