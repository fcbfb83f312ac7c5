from __future__ import annotations

import zlib

from websockets_sync import connect, serve
from websockets_sync.sansio.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

# Small windows and zlib's default level: less memory per connection and
# smaller messages than the defaults, for more CPU per message.
SETTINGS = {"level": zlib.Z_DEFAULT_COMPRESSION, "memLevel": 4}
server_deflate = ServerPerMessageDeflateFactory(
    server_max_window_bits=10,
    client_max_window_bits=10,
    compress_settings=SETTINGS,
)
client_deflate = ClientPerMessageDeflateFactory(compress_settings=SETTINGS)


def echo(websocket):
    for message in websocket:
        websocket.send(message)


with serve(echo, "127.0.0.1", 0, extensions=[server_deflate]) as server:
    port = server.sockets[0].getsockname()[1]
    uri = f"ws://127.0.0.1:{port}/"

    with connect(uri, extensions=[client_deflate]) as websocket:
        print(websocket.response_headers["Sec-WebSocket-Extensions"])
        websocket.send("spam " * 1000)
        print(len(websocket.recv()))

    # compression=None neither offers nor accepts permessage-deflate.
    with connect(uri, compression=None) as websocket:
        print(websocket.response_headers.get("Sec-WebSocket-Extensions"))
