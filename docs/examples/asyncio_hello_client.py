from __future__ import annotations

import asyncio
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))


async def hello():
    async with websockets.connect(f"ws://127.0.0.1:{PORT}") as websocket:
        await websocket.send("Hello world!")
        print(await websocket.recv())


if __name__ == "__main__":
    asyncio.run(hello())
