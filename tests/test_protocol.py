"""The connection API over real loopback sockets: websockets_sync.protocol."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from websockets_sync import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    PongWaiter,
    connect,
    serve,
)
from websockets_sync.sansio.protocol import Protocol
from websockets_sync.server import WebSocketServerProtocol

from .faces import FACES, connection_pair
from .utils import (
    MS,
    frame,
    open_raw_websocket,
    raw_client,
    read_client_frame,
    read_frame,
    server_uri,
    wait_for,
)


@pytest.fixture(params=FACES)
def face(request: pytest.FixtureRequest) -> str:
    """Run a test on the sync API and on the asyncio facade."""
    return request.param  # type: ignore[no-any-return]


# Messages and attributes.


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("café", "café"),
        ("", ""),
        (b"\x00\xff", b"\x00\xff"),
        (b"", b""),
        (bytearray(b"array"), b"array"),
        (memoryview(b"view"), b"view"),
        (memoryview(b"0123456789")[2:5], b"234"),
        ("x" * 70000, "x" * 70000),
    ],
)
def test_send_and_recv_each_type(message: object, expected: object, face: str) -> None:
    with connection_pair(face) as pair:
        pair.client.send(message)
        received = pair.server_side.recv(timeout=5)
        assert received == expected
        assert type(received) is type(expected)


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        (["caf", "é", ""], "café"),
        ([b"a", bytearray(b"b"), memoryview(b"c")], b"abc"),
        (lambda: iter(["only"]), "only"),
    ],
)
def test_send_iterable_as_fragmented_message(
    fragments: object, expected: object, face: str
) -> None:
    with connection_pair(face) as pair:
        pair.client.send(fragments() if callable(fragments) else fragments)
        assert pair.server_side.recv(timeout=5) == expected


def test_send_generator_from_server_side(face: str) -> None:
    with connection_pair(face) as pair:
        pair.server_side.send(f"{i}," for i in range(100))
        assert pair.client.recv(timeout=5) == "".join(f"{i}," for i in range(100))


def test_send_empty_iterable_sends_nothing(face: str) -> None:
    with connection_pair(face) as pair:
        pair.client.send([])
        pair.client.send("after")
        assert pair.server_side.recv(timeout=5) == "after"


@pytest.mark.parametrize("bad", [{"a": "b"}, 42, ["text", b"bytes"], [b"bytes", "text"], [1, 2]])
def test_send_rejects_unsupported_types(bad: object, face: str) -> None:
    with connection_pair(face) as pair, pytest.raises(TypeError):
        pair.client.send(bad)


def test_generator_failing_mid_message_fails_connection(face: str) -> None:
    def fragments():  # type: ignore[no-untyped-def]
        yield "first"
        yield "second"
        raise RuntimeError("boom")

    with connection_pair(face) as pair:
        with pytest.raises(RuntimeError):
            pair.client.send(fragments())
        with pytest.raises(ConnectionClosedError) as info:
            pair.server_side.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011


def test_attributes(face: str) -> None:
    with connection_pair(
        face,
        server_options={"subprotocols": ["chat"]},
        client_options={"subprotocols": ["chat"]},
    ) as pair:
        client, server_side = pair.client, pair.server_side
        assert client.open and server_side.open
        assert not client.closed and not server_side.closed
        assert client.close_code is None and client.close_reason is None
        assert client.subprotocol == server_side.subprotocol == "chat"
        assert isinstance(client.id, uuid.UUID) and client.id != server_side.id
        assert client.local_address == server_side.remote_address
        assert client.remote_address == server_side.local_address
        assert client.path == server_side.path == "/"
        assert (
            server_side.request_headers["Sec-WebSocket-Key"]
            == (client.request_headers["Sec-WebSocket-Key"])
        )
        assert (
            client.response_headers["Sec-WebSocket-Accept"]
            == (server_side.response_headers["Sec-WebSocket-Accept"])
        )
        client.close(4000, "bye")
        assert client.closed and not client.open
        assert client.close_code == 4000 and client.close_reason == "bye"
        server_side.wait_closed(timeout=5)
        assert server_side.close_code == 4000 and server_side.close_reason == "bye"


def test_connection_ids_are_random_uuids_made_without_a_system_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urandom_calls = []

    def counting_urandom(size: int) -> bytes:
        urandom_calls.append(size)
        return real_urandom(size)

    real_urandom = os.urandom
    monkeypatch.setattr(os, "urandom", counting_urandom)
    ids = {WebSocketServerProtocol(lambda websocket: None, None).id for _ in range(100)}
    assert urandom_calls == []  # os.urandom releases the GIL
    assert len(ids) == 100
    assert {connection_id.version for connection_id in ids} == {4}
    assert {connection_id.variant for connection_id in ids} == {uuid.RFC_4122}


ID_AFTER_FORK_SCRIPT = """
import os
from websockets_sync.server import WebSocketServerProtocol

def new_id():
    return WebSocketServerProtocol(lambda websocket: None, None).id

reader, writer = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(writer, new_id().bytes)
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(reader, 16) != new_id().bytes)
"""


def test_a_forked_child_makes_ids_of_its_own() -> None:
    output = subprocess.run(
        [sys.executable, "-c", ID_AFTER_FORK_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert output.stdout.split() == ["True"], output.stderr


def test_addresses_are_read_from_the_socket_when_asked_for(
    face: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[socket.socket] = []
    real_getsockname = socket.socket.getsockname

    def recording_getsockname(sock: socket.socket) -> object:
        asked.append(sock)
        return real_getsockname(sock)

    monkeypatch.setattr(socket.socket, "getsockname", recording_getsockname)
    with connection_pair(face) as pair:
        server_side = getattr(pair.server_side, "connection", pair.server_side)
        # getsockname() releases the GIL: opening a connection doesn't call it.
        assert server_side.socket not in asked
        assert pair.server_side.local_address == pair.client.remote_address
        assert asked.count(server_side.socket) == 1
        assert pair.server_side.local_address == pair.client.remote_address
        assert asked.count(server_side.socket) == 1  # read once
        client_address = pair.client.local_address
        pair.client.close()
        pair.server_side.wait_closed(timeout=5)
        assert pair.client.local_address == client_address
        assert pair.server_side.remote_address == client_address


def test_an_address_not_asked_for_before_the_close_is_none() -> None:
    with connection_pair("sync") as pair:
        pair.client.close()
        assert pair.client.local_address is None
        assert pair.client.remote_address is None


def test_recv_timeout(face: str) -> None:
    with connection_pair(face) as pair:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            pair.client.recv(timeout=50 * MS)
        assert time.monotonic() - start >= 50 * MS
        pair.server_side.send("late")
        assert pair.client.recv(timeout=5) == "late"


def test_recv_nowait() -> None:
    with connection_pair("sync") as pair:
        assert pair.client.recv_nowait() is None
        pair.server_side.send("ready")
        deadline = time.monotonic() + 5
        while (message := pair.client.recv_nowait()) is None:
            assert time.monotonic() < deadline
            time.sleep(MS)
        assert message == "ready"


def test_iteration_stops_at_normal_close(face: str) -> None:
    with connection_pair(face) as pair:
        for i in range(3):
            pair.server_side.send(str(i))
        pair.server_side.close()
        assert list(pair.client) == ["0", "1", "2"]


def test_iteration_raises_on_error_close(face: str) -> None:
    with connection_pair(face) as pair:
        pair.server_side.send("one")
        pair.server_side.close(1011, "oops")
        received = []
        with pytest.raises(ConnectionClosedError) as info:
            for message in pair.client:
                received.append(message)
        assert received == ["one"]
        assert info.value.code == 1011 and info.value.reason == "oops"


def test_close_once_closed_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual end of a handler: its loop ended with the connection, then close()."""
    with connection_pair("sync") as pair:
        pair.client.close()
        assert list(pair.server_side) == []
        with monkeypatch.context() as patch:
            patch.setattr(
                pair.server_side, "_start_closing", lambda *args: pytest.fail("closing again")
            )
            pair.server_side.close()
            pair.server_side.close(1011)


def test_the_close_is_logged_at_debug_level(caplog: pytest.LogCaptureFixture, face: str) -> None:
    with connection_pair(face) as pair:
        # Turned on after the opening: checked at every use, never cached.
        caplog.set_level(logging.DEBUG, logger="websockets_sync")
        pair.client.close()
        pair.server_side.wait_closed(5)

        def closed() -> list[str]:
            messages = [record.getMessage() for record in caplog.records]
            return [message for message in messages if "= connection closed" in message]

        # Each side logs right after it says closed: wait for both.
        wait_for(lambda: len(closed()) >= 2, what="both sides' logs")
    assert len(closed()) == 2  # one per side
    assert all("1000 (OK)" in message for message in closed())
    # Frames too, at the same level.
    assert any("< CLOSE 1000 (OK)" in r.getMessage() for r in caplog.records)


def test_messages_received_before_close_are_all_delivered(face: str) -> None:
    with connection_pair(face) as pair:
        for i in range(10):
            pair.server_side.send(f"message {i}")
        pair.server_side.close()
        pair.client.wait_closed(timeout=5)
        assert [pair.client.recv() for _ in range(10)] == [f"message {i}" for i in range(10)]
        with pytest.raises(ConnectionClosedOK):
            pair.client.recv()


def test_send_after_close_raises_connection_closed(face: str) -> None:
    with connection_pair(face) as pair:
        pair.client.close()
        with pytest.raises(ConnectionClosedOK) as info:
            pair.client.send("too late")
        assert info.value.sent is not None and info.value.sent.code == 1000
        with pytest.raises(ConnectionClosed):
            pair.client.ping()
        with pytest.raises(ConnectionClosed):
            pair.client.pong()


def test_close_is_idempotent_and_thread_safe(face: str) -> None:
    with connection_pair(face) as pair:
        threads = [threading.Thread(target=pair.client.close) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        pair.client.close()
        assert pair.client.close_code == 1000


def test_close_exception_details(face: str) -> None:
    with connection_pair(face) as pair:
        pair.server_side.close(1001, "going")
        with pytest.raises(ConnectionClosedOK) as info:
            pair.client.recv(timeout=5)
        exc = info.value
        assert exc.rcvd is not None and exc.rcvd.code == 1001 and exc.rcvd.reason == "going"
        assert exc.sent is not None and exc.sent.code == 1001
        assert exc.rcvd_then_sent is True
        assert "1001" in str(exc)


def test_context_manager_closes(face: str) -> None:
    with connection_pair(face) as pair:
        with pair.client as websocket:
            websocket.send("hi")
        assert pair.client.closed
        assert pair.server_side.recv(timeout=5) == "hi"


# Ping and pong.


def test_ping_resolves_with_latency(face: str) -> None:
    with connection_pair(face) as pair:
        waiter = pair.client.ping()
        if face == "sync":
            assert isinstance(waiter, PongWaiter)
        latency = waiter.wait(timeout=5)
        assert 0 <= latency < 5
        assert pair.client.latency == latency


def test_ping_with_custom_data(face: str) -> None:
    with connection_pair(face) as pair:
        assert pair.client.ping("abc").wait(timeout=5) >= 0
        assert pair.client.ping(b"abc").wait(timeout=5) >= 0


def test_ping_with_the_data_of_a_pending_ping_is_refused() -> None:
    with raw_pong_peer(answer_only=b"nothing") as websocket:
        websocket.ping("abc")
        with pytest.raises(ValueError):
            websocket.ping(b"abc")


def test_ping_data_too_long(face: str) -> None:
    with connection_pair(face) as pair:
        with pytest.raises(ValueError):
            pair.client.ping(b"x" * 126)
        with pytest.raises(ValueError):
            pair.client.pong(b"x" * 126)


def test_pong_acknowledges_earlier_pings() -> None:
    """RFC 6455 §5.5.3: a pong answers the most recent ping; earlier ones are covered."""
    with raw_pong_peer(answer_only=b"third") as websocket:
        waiters = [websocket.ping(data) for data in (b"first", b"second", b"third")]
        for waiter in waiters:
            assert waiter.wait(timeout=5) >= 0


def test_pending_ping_fails_when_connection_closes() -> None:
    with raw_pong_peer(answer_only=b"never") as websocket:
        waiter = websocket.ping(b"lost")
        websocket.close()
        with pytest.raises(ConnectionClosed):
            waiter.wait(timeout=5)


def test_unsolicited_pong_is_sent(face: str) -> None:
    with connection_pair(face) as pair:
        pair.client.pong("heartbeat")
        pair.client.send("after")
        assert pair.server_side.recv(timeout=5) == "after"


class raw_pong_peer:
    """A server that answers only the ping whose payload is ``answer_only``."""

    def __init__(self, answer_only: bytes) -> None:
        self.answer_only = answer_only
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            import base64
            import hashlib

            accept = base64.b64encode(
                hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
            )
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            buffer = bytearray()
            while True:
                try:
                    opcode, payload = read_client_frame(conn, buffer)
                except (EOFError, OSError):
                    return
                if opcode == 0x9 and payload == self.answer_only:
                    conn.sendall(frame(0xA, payload, mask=None))
                elif opcode == 0x8:
                    conn.sendall(frame(0x8, payload, mask=None))
                    return

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.thread.start()
        host, port = self.listener.getsockname()
        self.websocket = connect(f"ws://{host}:{port}/", compression=None)
        return self.websocket

    def __exit__(self, *exc_info: object) -> None:
        self.websocket.close()
        self.thread.join(5)
        self.listener.close()


# Concurrency.


def test_eight_threads_sending_at_once_never_interleave() -> None:
    """Fragmented messages from eight threads arrive whole and uncorrupted."""
    threads_count, messages_per_thread = 8, 50
    with connection_pair("sync", server_options={"max_queue": None}) as pair:

        def sender(index: int) -> None:
            for n in range(messages_per_thread):
                label = f"{index}:{n};"
                pair.client.send([label] * 20)

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(threads_count)]
        for thread in threads:
            thread.start()
        received = [
            pair.server_side.recv(timeout=10) for _ in range(threads_count * messages_per_thread)
        ]
        for thread in threads:
            thread.join(10)
        seen = set()
        for message in received:
            assert isinstance(message, str)
            label = message[: message.index(";") + 1]
            assert message == label * 20
            seen.add(label)
        assert len(seen) == threads_count * messages_per_thread


def test_concurrent_recv_from_two_threads_gets_each_message_once() -> None:
    with connection_pair("sync") as pair:
        results: list[object] = []
        lock = threading.Lock()

        def reader() -> None:
            for _ in range(50):
                message = pair.client.recv(timeout=5)
                with lock:
                    results.append(message)

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for thread in threads:
            thread.start()
        for i in range(100):
            pair.server_side.send(str(i))
        for thread in threads:
            thread.join(10)
        assert sorted(results, key=int) == [str(i) for i in range(100)]


def test_slow_reader_holds_back_flooding_peer() -> None:
    """A full queue stops the reader thread, so TCP pushes back on the sender."""
    size = 64 * 1024
    with connection_pair("sync", client_options={"max_queue": 4, "compression": None}) as pair:
        sent = 0
        stop = threading.Event()

        def flood() -> None:
            nonlocal sent
            try:
                while not stop.is_set():
                    pair.server_side.send(b"x" * size)
                    sent += 1
            except (ConnectionClosed, TimeoutError):
                pass

        flooder = threading.Thread(target=flood)
        flooder.start()
        # The sender stalls: nothing more goes out for a while.
        deadline = time.monotonic() + 10
        stalled_at, stalled_since = -1, time.monotonic()
        while time.monotonic() - stalled_since < 200 * MS:
            assert time.monotonic() < deadline, "the sender never stalled"
            if sent != stalled_at:
                stalled_at, stalled_since = sent, time.monotonic()
            time.sleep(10 * MS)
        # The reader stops once the queue is full; one read may complete a
        # few more messages: 256 KiB of reading buffer holds four of them.
        assert len(pair.client._messages) <= 4 + 4
        # Socket buffers on loopback hold a few MiB at most.
        assert sent * size < 4 * size + 32 * 1024 * 1024
        stop.set()
        for _ in range(sent):
            pair.client.recv(timeout=5)
        flooder.join(0)
        pair.client.close()
        flooder.join(5)
        assert not flooder.is_alive()


def test_large_messages_are_read_into_their_own_buffer(
    face: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large frames skip the read buffer (receive_buffer); every size still arrives whole."""
    reads: list[int] = []
    receive_buffered = Protocol.receive_buffered

    def spy(self: Protocol, size: int) -> None:
        reads.append(size)
        receive_buffered(self, size)

    monkeypatch.setattr(Protocol, "receive_buffered", spy)
    messages = [
        os.urandom(1 << 20),
        b"small",
        "é" * 100_000,
        os.urandom(65_536),
        b"",
        b"x" * 70_000,
    ]
    options = {"max_size": 2 << 20, "compression": None}
    with connection_pair(face, client_options=options, server_options=options) as pair:
        for message in messages:
            pair.client.send(message)
            assert pair.server_side.recv(timeout=5) == message
            pair.server_side.send(message)
            assert pair.client.recv(timeout=5) == message
    assert reads, "no large frame was read into its own buffer"


def test_large_frames_written_in_pieces_arrive_whole() -> None:
    """A small send buffer makes every large write partial; frames from two
    threads must still arrive whole and never interleaved."""
    options = {"max_size": 4 << 20, "compression": None}
    with connection_pair("sync", client_options=options, server_options=options) as pair:
        server_socket = pair.server_side.socket
        assert server_socket is not None
        server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        batches = [[os.urandom(size) for size in (3 << 20, 20_000, 70_000)] for _ in range(2)]

        def send_all(batch: list[bytes]) -> None:
            for message in batch:
                pair.server_side.send(message)

        senders = [threading.Thread(target=send_all, args=(batch,)) for batch in batches]
        for sender in senders:
            sender.start()
        received = [pair.client.recv(timeout=10) for _ in range(6)]
        for sender in senders:
            sender.join(10)
        assert sorted(received) == sorted(batches[0] + batches[1])
        # Each thread's messages keep their order.
        for batch in batches:
            assert [m for m in received if m in batch] == batch


# Peers that misbehave.


def test_peer_disconnecting_mid_frame_raises_promptly() -> None:
    with serve(lambda ws: ws.recv(), "127.0.0.1", 0) as server, raw_client(server) as sock:
        open_raw_websocket(sock)
        # A frame header announcing 100 bytes, then only 10 of them.
        sock.sendall(frame(0x2, b"x" * 100)[:16])
        time.sleep(20 * MS)
        websocket = next(iter(server.connections))
        sock.close()
        start = time.monotonic()
        with pytest.raises(ConnectionClosedError) as info:
            websocket.recv(timeout=5)
        assert time.monotonic() - start < 1
        assert info.value.code == 1006


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (frame(0x1, b"\xff\xfe"), 1007),
        (frame(0x3), 1002),
        (frame(0x1, b"x", rsv=4), 1002),
        (frame(0x1, b"x", mask=None), 1002),
        (frame(0x9, b"x" * 126), 1002),
        (frame(0x0, b"x"), 1002),
        (frame(0x8, b"\x03"), 1002),
        (frame(0x8, b"\x03\xe8\xff"), 1007),
        (frame(0x2, b"x" * 2000), 1009),
    ],
)
def test_protocol_errors_get_the_right_close_code(raw: bytes, code: int) -> None:
    errors: list[BaseException] = []
    handled = threading.Event()

    def handler(websocket) -> None:  # type: ignore[no-untyped-def]
        try:
            websocket.recv(timeout=5)
        except BaseException as exc:
            errors.append(exc)
        finally:
            handled.set()

    with serve(handler, "127.0.0.1", 0, max_size=1000, compression=None) as server:
        with raw_client(server) as sock:
            buffer = bytearray(open_raw_websocket(sock))
            sock.sendall(raw)
            opcode, _, payload = read_frame(sock, buffer)
            assert opcode == 0x8
            assert int.from_bytes(payload[:2], "big") == code
            # The server closes the TCP connection after failing it.
            sock.settimeout(5)
            assert sock.recv(4096) == b""
        # Closing the server before the handler starts would skip it.
        assert handled.wait(5)
    assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)


def test_errors_surface_in_stream_order() -> None:
    """Messages before a bad frame are delivered and answered before the failure."""

    def handler(websocket) -> None:  # type: ignore[no-untyped-def]
        for message in websocket:
            websocket.send(f"echo {message}")

    with serve(handler, "127.0.0.1", 0, compression=None) as server, raw_client(server) as sock:
        buffer = bytearray(open_raw_websocket(sock))
        sock.sendall(frame(0x1, b"one") + frame(0x1, b"two") + frame(0x1, b"\xc0\x80"))
        replies = [read_frame(sock, buffer) for _ in range(3)]
        assert replies[0] == (0x1, True, b"echo one")
        assert replies[1] == (0x1, True, b"echo two")
        assert replies[2][0] == 0x8 and replies[2][2][:2] == (1007).to_bytes(2, "big")


def test_peer_that_never_answers_close_is_dropped_after_close_timeout() -> None:
    def handler(websocket) -> None:  # type: ignore[no-untyped-def]
        websocket.recv()

    with serve(handler, "127.0.0.1", 0, close_timeout=100 * MS) as server:
        with raw_client(server) as sock:
            open_raw_websocket(sock)
            time.sleep(20 * MS)
            websocket = next(iter(server.connections))
            start = time.monotonic()
            websocket.close()
            elapsed = time.monotonic() - start
            assert 100 * MS <= elapsed < 1
            assert websocket.closed and websocket.close_code == 1006


# Keepalive and timeouts.


def test_keepalive_measures_latency(face: str) -> None:
    with connection_pair(
        face, client_options={"ping_interval": 20 * MS, "ping_timeout": 1}
    ) as pair:
        deadline = time.monotonic() + 5
        while pair.client.latency == 0:
            assert time.monotonic() < deadline
            time.sleep(5 * MS)
        assert pair.client.open


def test_keepalive_detects_silent_peer() -> None:
    """A peer that never answers pings is failed with 1011."""
    options = {"ping_interval": 20 * MS, "ping_timeout": 50 * MS, "close_timeout": 100 * MS}
    with serve(lambda ws: ws.recv(), "127.0.0.1", 0, **options) as server:
        with raw_client(server) as sock:
            buffer = bytearray(open_raw_websocket(sock))
            # Never answer: read frames until the server fails the connection.
            sock.settimeout(5)
            while True:
                opcode, _, payload = read_frame(sock, buffer)
                if opcode == 0x8:
                    break
            assert int.from_bytes(payload[:2], "big") == 1011


def test_peer_that_stops_reading_blocks_only_the_sender() -> None:
    """write_timeout bounds a blocked send; close() from another thread still returns."""

    def handler(websocket) -> None:  # type: ignore[no-untyped-def]
        websocket.recv()

    with serve(handler, "127.0.0.1", 0) as server, raw_client(server) as sock:
        open_raw_websocket(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        time.sleep(20 * MS)
        websocket = next(iter(server.connections))
        websocket.write_timeout = 200 * MS
        websocket.close_timeout = 200 * MS
        outcome: list[BaseException] = []

        def flood() -> None:
            try:
                while True:
                    websocket.send(b"x" * 65536)
            except BaseException as exc:
                outcome.append(exc)

        flooder = threading.Thread(target=flood)
        flooder.start()
        flooder.join(5)
        assert len(outcome) == 1 and isinstance(outcome[0], TimeoutError)
        websocket.wait_closed(timeout=5)


def test_close_from_another_thread_while_send_is_blocked() -> None:
    def handler(websocket) -> None:  # type: ignore[no-untyped-def]
        websocket.recv()

    with serve(handler, "127.0.0.1", 0, close_timeout=200 * MS) as server:
        with raw_client(server) as sock:
            open_raw_websocket(sock)
            time.sleep(20 * MS)
            websocket = next(iter(server.connections))
            blocked = threading.Event()
            outcome: list[BaseException] = []

            def flood() -> None:
                try:
                    while True:
                        blocked.set()
                        websocket.send(b"x" * 65536)
                except BaseException as exc:
                    outcome.append(exc)

            flooder = threading.Thread(target=flood)
            flooder.start()
            blocked.wait(5)
            time.sleep(200 * MS)
            start = time.monotonic()
            websocket.close()
            assert time.monotonic() - start < 1
            flooder.join(5)
            assert len(outcome) == 1 and isinstance(outcome[0], ConnectionClosed)


def test_wait_closed_timeout(face: str) -> None:
    with connection_pair(face) as pair, pytest.raises(TimeoutError):
        pair.client.wait_closed(timeout=10 * MS)


def test_ipv6_connection(face: str) -> None:
    if not socket.has_ipv6:
        pytest.skip("IPv6 is not available")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("::1 is not configured")
    with connection_pair(face, host="::1") as pair:
        assert server_uri(pair.server).startswith("ws://[::1]:")
        pair.client.send("v6")
        assert pair.server_side.recv(timeout=5) == "v6"
