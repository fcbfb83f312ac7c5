from __future__ import annotations

import asyncio
import logging

import websockets_sync.asyncio as websockets

logger = logging.getLogger("websockets_sync")
logger.setLevel(logging.INFO)
logger.addHandler(logging.StreamHandler())


async def buggy(websocket):
    raise RuntimeError("something went wrong")


async def main():
    async with websockets.serve(buggy, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}") as websocket:
            await websocket.wait_closed()
        print(f"the server closed the connection with code {websocket.close_code}")


if __name__ == "__main__":
    asyncio.run(main())
