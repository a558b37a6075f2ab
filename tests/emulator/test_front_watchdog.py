"""The front's watchdog: a request never outlives its client, even when its handler would wait for ever.

A real FrontServer on a loopback socket with a handler that takes a "slot" and then waits on a future
nobody resolves (what a lost upstream answer looked like, issue #9 item 1). When the client goes away, the
handler is cancelled and its ``finally`` gives the slot back.
"""

from __future__ import annotations

import asyncio
import socket

from agentctl.emulator.http_front import FrontServer, Reply, Request


def test_a_handler_stuck_after_its_client_left_is_cancelled_and_frees_its_slot() -> None:
    async def scenario() -> None:
        slots = {"held": 0, "freed": 0}
        freed = asyncio.Event()

        async def stuck(request: Request, reply: Reply) -> None:
            slots["held"] += 1
            try:
                await asyncio.get_running_loop().create_future()  # never resolved
            finally:
                slots["freed"] += 1
                freed.set()

        front = FrontServer(stuck)
        port = await front.start("127.0.0.1", 0)
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            await writer.drain()
            while slots["held"] == 0:
                await asyncio.sleep(0.01)
            writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                                  b"\x01\x00\x00\x00\x00\x00\x00\x00")
            writer.close()
            await asyncio.wait_for(freed.wait(), 30)  # bounded: a stuck handler fails the test, not CI
            assert slots == {"held": 1, "freed": 1}
        finally:
            await front.close(grace=0.1)

    asyncio.run(scenario())
