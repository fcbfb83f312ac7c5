from __future__ import annotations

import asyncio
import http
import os

import websockets_sync.asyncio as websockets

PORT = int(os.environ.get("PORT", "8765"))
TOKEN = "secret"


class TokenProtocol(websockets.WebSocketServerProtocol):
    """Health checks and token authentication, before the WebSocket handshake."""

    async def process_request(self, path, request_headers):
        if path == "/health":
            return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"OK\n"
        if request_headers.get("Authorization") != f"Bearer {TOKEN}":
            return http.HTTPStatus.UNAUTHORIZED, [], b"Missing or wrong token\n"
        return None  # go on with the WebSocket handshake

    def select_subprotocol(self, client_subprotocols, server_subprotocols):
        # The newest version that both sides speak.
        common = [p for p in server_subprotocols if p in client_subprotocols]
        return common[-1] if common else None


async def handler(websocket):
    await websocket.send(f"welcome! we speak {websocket.subprotocol}")
    async for message in websocket:
        await websocket.send(message)


async def main():
    async with websockets.serve(
        handler,
        "127.0.0.1",
        PORT,
        create_protocol=TokenProtocol,
        subprotocols=["chat.v1", "chat.v2"],
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
