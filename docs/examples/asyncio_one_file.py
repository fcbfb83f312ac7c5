from __future__ import annotations

import asyncio

import websockets_sync.asyncio as websockets


async def echo(websocket, path):
    async for message in websocket:
        await websocket.send(f"{path} says {message}")


async def main():
    # Port 0: the system picks a free port; server.sockets tells which.
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/greeter") as websocket:
            await websocket.send("hi")
            print(await websocket.recv())
            await websocket.send(["frag", "ments"])  # one message in two frames
            print(await websocket.recv())
            pong = await websocket.ping()
            latency = await pong
            print(f"latency: {latency:.6f} s")
        print(f"closed with code {websocket.close_code}")


if __name__ == "__main__":
    asyncio.run(main())
