"""Command line: an echo server and an interactive client.

``python -m websockets_sync serve [--host HOST] [--port PORT]`` echoes every
message back; ``python -m websockets_sync connect URI`` sends each line read
from standard input and prints every message received.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Sequence

from .client import connect
from .exceptions import ConnectionClosed, WebSocketException
from .protocol import WebSocketCommonProtocol
from .server import serve

__all__ = ["main"]

# Seconds of quiet after the end of the input before the client closes.
_REPLY_GRACE = 0.5


def _echo(websocket: WebSocketCommonProtocol) -> None:
    for message in websocket:
        websocket.send(message)


def _serve(host: str, port: int) -> int:
    # Ctrl-C may come as soon as the address is printed, before serve_forever().
    with contextlib.suppress(KeyboardInterrupt), serve(_echo, host, port) as server:
        address = server.sockets[0].getsockname()
        print(f"echo server listening on ws://{address[0]}:{address[1]}/ (Ctrl-C to stop)")
        sys.stdout.flush()
        server.serve_forever()
    return 0


def _print_incoming(websocket: WebSocketCommonProtocol, received: threading.Event) -> None:
    try:
        for message in websocket:
            print(f"< {message!r}" if isinstance(message, bytes) else f"< {message}")
            sys.stdout.flush()
            received.set()
    except ConnectionClosed as exc:
        print(f"connection closed: {exc}")
    else:
        print("connection closed")
    sys.stdout.flush()


def _connect(uri: str) -> int:
    try:
        websocket = connect(uri)
    except (OSError, WebSocketException) as exc:  # TimeoutError is an OSError
        print(f"Failed to connect to {uri}: {exc}", file=sys.stderr)
        return 1
    with websocket:
        received = threading.Event()
        printer = threading.Thread(target=_print_incoming, args=(websocket, received), daemon=True)
        printer.start()
        try:
            for line in sys.stdin:
                websocket.send(line.rstrip("\n"))
            # Piped input ends at once: let the answers to the last lines
            # arrive, until the connection has been quiet for a moment.
            while received.wait(_REPLY_GRACE):
                received.clear()
        except (KeyboardInterrupt, ConnectionClosed):
            pass
    printer.join(timeout=1)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m websockets_sync")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run an echo server")
    serve_parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8765, help="default: 8765")
    connect_parser = commands.add_parser("connect", help="send lines from stdin, print replies")
    connect_parser.add_argument("uri", help="e.g. ws://127.0.0.1:8765")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args.host, args.port)
    return _connect(args.uri)


if __name__ == "__main__":
    sys.exit(main())
