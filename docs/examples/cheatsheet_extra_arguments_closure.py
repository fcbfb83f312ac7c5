from __future__ import annotations

import asyncio
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))


async def main():
    extra_argument = "eggs"

    async def handler(websocket, path):
        async for message in websocket:
            await websocket.send(f"{extra_argument}: {message}")

    async with websockets.serve(handler, "127.0.0.1", PORT) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
