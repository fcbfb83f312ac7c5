"""Tests for websockets_sync.sansio.headers: the Headers multi-dict and the header parsers."""

from __future__ import annotations

import gc

import pytest

from websockets_sync.exceptions import InvalidHeaderFormat, InvalidHeaderValue, InvalidUpgrade
from websockets_sync.sansio.headers import (
    Headers,
    MultipleValuesError,
    build_authorization_basic,
    build_extension_list,
    build_subprotocol_list,
    parse_authorization_basic,
    parse_connection,
    parse_extension_list,
    parse_subprotocol_list,
    parse_upgrade,
    require_upgrade_token,
    validate_subprotocols,
)

# Headers


def test_values_leave_the_garbage_collector_alone() -> None:
    """Only the list of items stays tracked: servers hold headers by the thousand."""
    headers = Headers([("Host", "example.com"), ("Accept", "a"), ("accept", "b")])
    gc.collect()
    assert not gc.is_tracked(headers._values)
    assert not any(gc.is_tracked(values) for values in headers._values.values())
    assert headers.get_all("ACCEPT") == ["a", "b"]


def test_getitem_is_case_insensitive() -> None:
    headers = Headers([("Content-Type", "text/plain")])
    assert headers["content-type"] == "text/plain"
    assert headers["CONTENT-TYPE"] == "text/plain"


def test_getitem_missing_raises_key_error() -> None:
    with pytest.raises(KeyError):
        Headers()["Host"]


def test_getitem_repeated_raises_multiple_values_error() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    with pytest.raises(MultipleValuesError) as raised:
        headers["Set-Cookie"]
    assert isinstance(raised.value, KeyError)
    assert str(raised.value) == "multiple values for header Set-Cookie"


def test_multiple_values_error_str_without_single_argument() -> None:
    assert str(MultipleValuesError()) == ""
    assert str(MultipleValuesError("a", "b")) == "('a', 'b')"


def test_setitem_appends() -> None:
    headers = Headers()
    headers["Foo"] = "1"
    headers["foo"] = "2"
    assert headers.get_all("FOO") == ["1", "2"]
    assert list(headers.raw_items()) == [("Foo", "1"), ("foo", "2")]


@pytest.mark.parametrize("name", ["", "Foo Bar", "Foo:", "Fóo", "Foo\r\nX"])
def test_setitem_rejects_invalid_name(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        Headers()[name] = "x"


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb"])
def test_setitem_rejects_control_characters(value: str) -> None:
    with pytest.raises(ValueError, match="invalid value"):
        Headers()["Foo"] = value


def test_setitem_accepts_htab_and_non_ascii() -> None:
    headers = Headers()
    headers["Foo"] = "a\tb é"
    assert headers["Foo"] == "a\tb é"


def test_setitem_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        Headers()["Foo"] = 1  # type: ignore[assignment]
    with pytest.raises(TypeError):
        Headers()[b"Foo"] = "x"  # type: ignore[index]


def test_delitem_removes_all_values() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    del headers["A"]
    assert "a" not in headers
    assert list(headers.raw_items()) == [("B", "2")]
    assert len(headers) == 1


def test_delitem_missing_raises_key_error() -> None:
    with pytest.raises(KeyError):
        del Headers()["A"]


def test_contains_with_repeated_header() -> None:
    headers = Headers([("A", "1"), ("a", "2")])
    assert "A" in headers
    assert "b" not in headers
    assert 42 not in headers  # type: ignore[comparison-overlap]


def test_iter_and_len_count_distinct_names_in_first_case() -> None:
    headers = Headers([("Foo", "1"), ("Bar", "2"), ("FOO", "3")])
    assert list(headers) == ["Foo", "Bar"]
    assert len(headers) == 2


def test_get_returns_default_when_missing() -> None:
    headers = Headers([("A", "1")])
    assert headers.get("a") == "1"
    assert headers.get("b") is None


def test_get_all_missing_is_empty() -> None:
    assert Headers().get_all("A") == []


def test_get_all_returns_a_copy() -> None:
    headers = Headers([("A", "1")])
    headers.get_all("A").append("2")
    assert headers.get_all("A") == ["1"]


def test_raw_items_survives_mutation() -> None:
    headers = Headers([("A", "1")])
    for name, value in headers.raw_items():
        headers[name] = value + "!"
    assert headers.get_all("A") == ["1", "1!"]


def test_update_from_all_kinds() -> None:
    headers = Headers()
    headers.update(Headers([("A", "1"), ("a", "2")]), {"B": "3"}, [("C", "4")], D="5")
    assert list(headers.raw_items()) == [("A", "1"), ("a", "2"), ("B", "3"), ("C", "4"), ("D", "5")]


def test_update_appends() -> None:
    headers = Headers({"A": "1"})
    headers.update({"A": "2"})
    assert headers.get_all("A") == ["1", "2"]


def test_constructor_takes_keywords() -> None:
    assert Headers(Host="example.com")["host"] == "example.com"


def test_copy_is_independent() -> None:
    headers = Headers([("A", "1")])
    copy = headers.copy()
    copy["A"] = "2"
    assert headers.get_all("A") == ["1"]
    assert copy.get_all("A") == ["1", "2"]
    assert isinstance(copy, Headers)


def test_clear() -> None:
    headers = Headers([("A", "1")])
    headers.clear()
    assert len(headers) == 0
    assert list(headers.raw_items()) == []
    headers["A"] = "2"
    assert headers["A"] == "2"


def test_eq() -> None:
    assert Headers([("A", "1"), ("B", "2")]) == Headers([("b", "2"), ("a", "1")])
    assert Headers([("A", "1"), ("A", "2")]) != Headers([("A", "2"), ("A", "1")])
    assert Headers([("A", "1")]) != Headers([("A", "1"), ("A", "1")])
    assert Headers([("A", "1")]) != {"A": "1"}


def test_repr() -> None:
    assert repr(Headers([("A", "1")])) == "Headers([('A', '1')])"


def test_pop_and_setdefault_from_mutable_mapping() -> None:
    headers = Headers([("A", "1")])
    assert headers.setdefault("B", "2") == "2"
    assert headers.pop("a") == "1"
    assert list(headers.raw_items()) == [("B", "2")]


def test_serialize() -> None:
    headers = Headers([("Host", "example.com"), ("X", "1"), ("x", "2")])
    assert headers.serialize() == b"Host: example.com\r\nX: 1\r\nx: 2\r\n\r\n"


def test_serialize_empty() -> None:
    assert Headers().serialize() == b"\r\n"


# Connection


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        ("keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
        ("keep-alive ,\tUpgrade", ["keep-alive", "Upgrade"]),
        # RFC 7230 §7: empty list elements are tolerated.
        (", , Upgrade ,, ", ["Upgrade"]),
        (",Upgrade", ["Upgrade"]),
        ("Upgrade,", ["Upgrade"]),
    ],
)
def test_parse_connection(header: str, expected: list[str]) -> None:
    assert parse_connection(header) == expected


@pytest.mark.parametrize(
    ("header", "pos"),
    [
        ("", 0),
        (" , ,", 4),
        ("Upgrade keep-alive", 8),
        ("Upgrade;", 7),
        ("Up/grade", 2),
        ('"Upgrade"', 0),
    ],
)
def test_parse_connection_invalid(header: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_connection(header)
    assert raised.value.name == "Connection"
    assert raised.value.header == header
    assert raised.value.pos == pos


# Upgrade


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("websocket", ["websocket"]),
        ("WebSocket", ["WebSocket"]),
        ("h2c, websocket", ["h2c", "websocket"]),
        ("foo/1.0, HTTP/2.0", ["foo/1.0", "HTTP/2.0"]),
    ],
)
def test_parse_upgrade(header: str, expected: list[str]) -> None:
    assert parse_upgrade(header) == expected


@pytest.mark.parametrize("header", ["", "foo/", "/1.0", "foo/1.0/2", "web socket", "websocket;"])
def test_parse_upgrade_invalid(header: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_upgrade(header)
    assert raised.value.name == "Upgrade"


# Sec-WebSocket-Protocol


def test_parse_subprotocol_list() -> None:
    assert parse_subprotocol_list("chat, superchat") == ["chat", "superchat"]
    assert parse_subprotocol_list("v1.json.api") == ["v1.json.api"]


@pytest.mark.parametrize("header", ["", "chat superchat", "chat/1", '"chat"'])
def test_parse_subprotocol_list_invalid(header: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_subprotocol_list(header)
    assert raised.value.name == "Sec-WebSocket-Protocol"


def test_build_subprotocol_list() -> None:
    assert build_subprotocol_list(["chat", "superchat"]) == "chat, superchat"
    assert build_subprotocol_list(("chat",)) == "chat"


def test_validate_subprotocols_accepts_sequences() -> None:
    validate_subprotocols([])
    validate_subprotocols(["chat", "v2.bin"])
    validate_subprotocols(("chat",))


@pytest.mark.parametrize("subprotocols", ["chat", b"chat", {"chat"}, None, 42, [b"chat"], [None]])
def test_validate_subprotocols_type_error(subprotocols: object) -> None:
    with pytest.raises(TypeError):
        validate_subprotocols(subprotocols)  # type: ignore[arg-type]


@pytest.mark.parametrize("subprotocol", ["", "chat room", "chat,room", "chät", "a/b"])
def test_validate_subprotocols_value_error(subprotocol: str) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        validate_subprotocols([subprotocol])
    with pytest.raises(ValueError, match="invalid subprotocol"):
        build_subprotocol_list(["ok", subprotocol])


# Sec-WebSocket-Extensions


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("foo", [("foo", [])]),
        ("foo, bar", [("foo", []), ("bar", [])]),
        (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
            [
                (
                    "permessage-deflate",
                    [("client_max_window_bits", None), ("server_max_window_bits", "10")],
                )
            ],
        ),
        # OWS around ";" and "=", as RFC 6455 §9.1's implied *LWS allows.
        ("foo ;bar = 1 ; baz\t;\tqux=x", [("foo", [("bar", "1"), ("baz", None), ("qux", "x")])]),
        # A quoted value is unquoted, escapes included.
        ('foo; bar="10"', [("foo", [("bar", "10")])]),
        ('foo; bar="a\\-b"', [("foo", [("bar", "a-b")])]),
        ('foo; bar=""x', None),
        ("foo;bar, baz;qux=1", [("foo", [("bar", None)]), ("baz", [("qux", "1")])]),
        (", foo,, bar ,", [("foo", []), ("bar", [])]),
    ],
)
def test_parse_extension_list(header: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(InvalidHeaderFormat):
            parse_extension_list(header)
    else:
        assert parse_extension_list(header) == expected


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("", "expected at least one element"),
        ("foo;", "expected token"),
        ("foo; =1", "expected token"),
        ("foo; bar=", "expected token"),
        ("foo; bar=1 2", "expected comma"),
        ('foo; bar="unterminated', "expected quoted string"),
        # RFC 6455 §9.1: the unquoted value MUST be a token.
        ('foo; bar="a b"', "invalid quoted parameter value"),
        ('foo; bar=""', "invalid quoted parameter value"),
        ("foo; bar=a/b", "expected comma"),
        ("foo bar", "expected comma"),
        ('"foo"', "expected token"),
    ],
)
def test_parse_extension_list_invalid(header: str, error: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_extension_list(header)
    assert raised.value.name == "Sec-WebSocket-Extensions"
    assert raised.value.error == error


def test_build_extension_list() -> None:
    header = build_extension_list(
        [
            (
                "permessage-deflate",
                [("client_max_window_bits", None), ("server_max_window_bits", "10")],
            ),
            ("foo", []),
        ]
    )
    assert header == "permessage-deflate; client_max_window_bits; server_max_window_bits=10, foo"


def test_build_extension_list_round_trip() -> None:
    extensions = [("a", [("b", "1"), ("c", None)]), ("d", [])]
    assert parse_extension_list(build_extension_list(extensions)) == extensions


@pytest.mark.parametrize(
    "extensions",
    [
        [("foo bar", [])],
        [("foo=bar", [])],
        [("foo", [("a b", None)])],
        [("foo", [("a", "1 2")])],
        [("foo", [("a", "")])],
    ],
)
def test_build_extension_list_invalid(
    extensions: list[tuple[str, list[tuple[str, str | None]]]],
) -> None:
    with pytest.raises(ValueError, match="invalid extension token"):
        build_extension_list(extensions)


# Authorization


def test_build_authorization_basic() -> None:
    # RFC 7617 §2's example.
    assert (
        build_authorization_basic("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    )


def test_build_authorization_basic_utf8() -> None:
    # RFC 7617 §2.1's example with charset="UTF-8".
    assert build_authorization_basic("test", "123£") == "Basic dGVzdDoxMjPCow=="


def test_build_authorization_basic_rejects_colon_in_username() -> None:
    with pytest.raises(ValueError, match="colon"):
        build_authorization_basic("a:b", "c")


def test_parse_authorization_basic() -> None:
    assert parse_authorization_basic("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==") == (
        "Aladdin",
        "open sesame",
    )
    assert parse_authorization_basic("basic  dGVzdDoxMjPCow==") == ("test", "123£")
    assert parse_authorization_basic("Basic " + "dTo6cA==") == ("u", ":p")


@pytest.mark.parametrize(
    ("header", "exc_type"),
    [
        ("Bearer abc", InvalidHeaderValue),
        ("", InvalidHeaderFormat),
        ("Basic", InvalidHeaderFormat),
        ("BasicQWxh", InvalidHeaderValue),
        ("Basic ", InvalidHeaderFormat),
        ("Basic abc def", InvalidHeaderFormat),
        ("Basic QWxhZGRpbg=", InvalidHeaderValue),
        ("Basic QWxhZGRpbg==", InvalidHeaderValue),
        ("Basic gA==", InvalidHeaderValue),
    ],
)
def test_parse_authorization_basic_invalid(header: str, exc_type: type[Exception]) -> None:
    with pytest.raises(exc_type):
        parse_authorization_basic(header)


# Upgrade and Connection in opening handshakes


def _headers(name: str, *values: str) -> Headers:
    headers = Headers()
    for value in values:
        headers[name] = value
    return headers


@pytest.mark.parametrize("value", ["websocket", "WebSocket", "WEBSOCKET"])
def test_require_upgrade_token_single_value_is_not_parsed(value: str) -> None:
    parsed: list[str] = []

    def parse(header: str) -> list[str]:
        parsed.append(header)
        return parse_upgrade(header)

    require_upgrade_token(_headers("Upgrade", value), "Upgrade", "websocket", parse)
    assert parsed == []


@pytest.mark.parametrize(
    "values", [("keep-alive, Upgrade",), ("keep-alive", "upgrade"), ("Upgrade, close",)]
)
def test_require_upgrade_token_listed(values: tuple[str, ...]) -> None:
    require_upgrade_token(
        _headers("Connection", *values), "Connection", "upgrade", parse_connection
    )


@pytest.mark.parametrize("values", [(), ("keep-alive",), ("close", "keep-alive")])
def test_require_upgrade_token_not_listed(values: tuple[str, ...]) -> None:
    with pytest.raises(InvalidUpgrade) as raised:
        require_upgrade_token(
            _headers("Connection", *values), "Connection", "upgrade", parse_connection
        )
    assert raised.value.name == "Connection"
    assert raised.value.value == (", ".join(values) if values else None)


def test_require_upgrade_token_compares_ascii_only() -> None:
    # "\u212a", KELVIN SIGN, lower-cases to an ASCII "k": not a match for RFC 6455.
    with pytest.raises(InvalidHeaderFormat):
        require_upgrade_token(
            _headers("Upgrade", "websoc\u212aet"), "Upgrade", "websocket", parse_upgrade
        )
