from __future__ import annotations

import asyncio
import contextlib
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))

ROOM = set()


async def chat(websocket):
    """Relay each message to everybody in the room, sender included."""
    ROOM.add(websocket)
    try:
        async for message in websocket:
            for member in list(ROOM):
                # If that member just left, its own handler cleans up.
                with contextlib.suppress(websockets.ConnectionClosed):
                    await member.send(message)
    finally:
        ROOM.discard(websocket)  # clean up however the connection ended


async def clock(websocket):
    """Send ticks without ever reading: wait_closed() tells when the client leaves."""
    closed = asyncio.ensure_future(websocket.wait_closed())
    try:
        tick = 0
        while not closed.done():
            tick += 1
            await websocket.send(f"tick {tick}")
            await asyncio.wait([closed], timeout=0.1)
    finally:
        closed.cancel()  # terminate the tasks you started before exiting


async def handler(websocket, path):
    if path == "/chat":
        await chat(websocket)
    elif path == "/clock":
        await clock(websocket)
    else:
        await websocket.close(1008, "unknown path")


async def main():
    async with websockets.serve(handler, "127.0.0.1", PORT) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
