from __future__ import annotations

import asyncio
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))


async def main():
    # As an async context manager, connect() closes the connection on exit.
    async with websockets.connect(f"ws://127.0.0.1:{PORT}/chat") as websocket:
        await websocket.send("Hello, room!")
        print(await websocket.recv())  # relayed back to every member, us too
        # Keepalive pings are automatic; ping() is there if you want one.
        latency = await (await websocket.ping())
        print(f"latency: {latency:.6f} s")

    # Otherwise, call close() yourself.
    websocket = await websockets.connect(f"ws://127.0.0.1:{PORT}/clock")
    try:
        print(await websocket.recv())
        print(await websocket.recv())
    finally:
        await websocket.close()
    print(f"closed with code {websocket.close_code}")


if __name__ == "__main__":
    asyncio.run(main())
