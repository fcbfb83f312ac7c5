from __future__ import annotations

import asyncio
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main():
    async with websockets.serve(echo, "127.0.0.1", PORT) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
