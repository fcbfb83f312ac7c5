from __future__ import annotations

import asyncio
import functools
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))


async def handler(websocket, path, extra_argument):
    async for message in websocket:
        await websocket.send(f"{extra_argument}: {message}")


bound_handler = functools.partial(handler, extra_argument="spam")
start_server = websockets.serve(bound_handler, "127.0.0.1", PORT)

asyncio.get_event_loop().run_until_complete(start_server)
asyncio.get_event_loop().run_forever()
