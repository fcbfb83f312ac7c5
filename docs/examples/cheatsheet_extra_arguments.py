from __future__ import annotations

import asyncio
import functools
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))


async def handler(websocket, path, extra_argument):
    async for message in websocket:
        await websocket.send(f"{extra_argument}: {message}")


async def main():
    bound_handler = functools.partial(handler, extra_argument="spam")
    async with websockets.serve(bound_handler, "127.0.0.1", PORT) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
