from __future__ import annotations

import asyncio
import functools
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))


class TokenClient(websockets.WebSocketClientProtocol):
    """Sends its token with the opening handshake."""

    def __init__(self, *, token, **options):
        options["extra_headers"] = {"Authorization": f"Bearer {token}"}
        super().__init__(**options)


async def main():
    uri = f"ws://127.0.0.1:{PORT}/"
    try:
        await websockets.connect(uri)
    except websockets.InvalidStatusCode as exc:
        print(f"without a token: HTTP {exc.status_code}")

    # A class, or a factory such as this partial, goes in create_protocol.
    with_token = functools.partial(TokenClient, token="secret")
    async with websockets.connect(
        uri, create_protocol=with_token, subprotocols=["chat.v1", "chat.v2"]
    ) as websocket:
        print(await websocket.recv())
        await websocket.send("Hi!")
        print(await websocket.recv())


if __name__ == "__main__":
    asyncio.run(main())
