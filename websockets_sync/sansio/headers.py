"""HTTP headers: a case-insensitive multi-dict and the parsers of the handshake headers.

The parsers follow the token, quoted-string and list grammar of RFC 7230 §3.2.6
and §7, and the Sec-WebSocket-* grammar of RFC 6455 §4.3 and §9.1. They work on
header values that :mod:`websockets_sync.sansio.http11` already checked to hold
only visible ASCII, SP and HTAB.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import TypeVar

from ..exceptions import InvalidHeaderFormat, InvalidHeaderValue, InvalidUpgrade

__all__ = [
    "ExtensionHeader",
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "build_authorization_basic",
    "build_extension_list",
    "build_subprotocol_list",
    "parse_authorization_basic",
    "parse_connection",
    "parse_extension_list",
    "parse_subprotocol_list",
    "parse_upgrade",
    "require_upgrade_token",
    "validate_subprotocols",
]

_T = TypeVar("_T")

#: One Sec-WebSocket-Extensions entry: the extension name and its parameters.
ExtensionHeader = tuple[str, list[tuple[str, str | None]]]

# RFC 7230 §3.2.6: token = 1*tchar, with the ASCII-only classes spelled out so
# that re's Unicode \w never sneaks in.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
# RFC 7230 §3.2.6: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE.
# obs-text is left out: header values from the network are ASCII only.
_QUOTED_STRING_RE = re.compile(r'"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"')
_QUOTED_PAIR_RE = re.compile(r"\\([\t \x21-\x7e])")
# RFC 7230 §3.2.3: OWS = *( SP / HTAB ).
_OWS_RE = re.compile(r"[\t ]*")
# OWS followed by any number of commas, each followed by OWS: the empty list
# elements that RFC 7230 §7 tells recipients to tolerate.
_EMPTY_ELEMENTS_RE = re.compile(r"[\t ]*(?:,[\t ]*)*")
# RFC 7230 §6.7: protocol = protocol-name ["/" protocol-version].
_PROTOCOL_RE = re.compile(rf"{_TOKEN}(?:/{_TOKEN})?")
# What Headers accepts as a value: anything but control characters other than
# HTAB, so that serialize() can never be tricked into ending a line early.
_VALUE_RE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
# RFC 7235 §2.1: token68, the shape of Basic credentials.
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class MultipleValuesError(KeyError):
    """Raised by ``headers[name]`` when the header appears more than once.

    It is a :class:`KeyError` so that code expecting a single value treats a
    repeated header like a missing one rather than picking one at random.
    """

    def __str__(self) -> str:
        # KeyError's __str__ quotes its argument; a message reads better.
        if len(self.args) == 1:
            return f"multiple values for header {self.args[0]}"
        return super().__str__()


class Headers(MutableMapping[str, str]):
    """A case-insensitive multi-dict of HTTP headers that keeps their order and case.

    HTTP allows a header to appear several times, so this is not a plain dict:
    ``headers[name] = value`` appends a value (like :mod:`email.message`),
    ``headers[name]`` returns the value only when there is exactly one, and
    :meth:`get_all` returns every value. Iteration yields each distinct name
    once, in the case of its first occurrence. As with any mapping,
    ``headers.get(name)`` returns the default when ``headers[name]`` raises a
    :class:`KeyError`, so also for a repeated header: handshake checks use
    :meth:`get_all`.

    Names must be RFC 7230 tokens and values must not contain control
    characters other than HTAB: this makes header injection through
    :meth:`serialize` impossible.
    """

    __slots__ = ("_items", "_names", "_values")

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        # Every (name, value) pair, in order, with the original case.
        self._items: list[tuple[str, str]] = []
        # Lower-case name -> values, in order. Tuples: a server holds the
        # headers of every open connection, and the garbage collector stops
        # tracking tuples of strings, and then a dict of them, at all.
        self._values: dict[str, tuple[str, ...]] = {}
        # Lower-case name -> name as first seen.
        self._names: dict[str, str] = {}
        if args or kwargs:
            self.update(*args, **kwargs)

    def __getitem__(self, name: str) -> str:
        """Return the only value of a header.

        Raises:
            KeyError: When the header is missing.
            MultipleValuesError: When the header appears more than once.
        """
        values = self._values[name.lower()]
        if len(values) > 1:
            raise MultipleValuesError(name)
        return values[0]

    def __setitem__(self, name: str, value: str) -> None:
        """Append a header, keeping any previous values.

        Raises:
            ValueError: When the name is not a token or the value holds a
                control character.
            TypeError: When the name or the value is not a :class:`str`.
        """
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, got {name!r}: {value!r}")
        if _TOKEN_RE.fullmatch(name) is None:
            raise ValueError(f"invalid header name: {name!r}")
        if _VALUE_RE.fullmatch(value) is None:
            raise ValueError(f"invalid value for header {name}: {value!r}")
        self._append(name, value)

    def _append(self, name: str, value: str) -> None:
        """Append a header whose name and value the caller has checked: the HTTP parser."""
        key = name.lower()
        self._items.append((name, value))
        values = self._values.get(key)
        if values is None:
            self._values[key] = (value,)
            self._names[key] = name
        else:
            self._values[key] = (*values, value)

    def __delitem__(self, name: str) -> None:
        """Remove every value of a header.

        Raises:
            KeyError: When the header is missing.
        """
        key = name.lower()
        del self._values[key]
        del self._names[key]
        self._items = [item for item in self._items if item[0].lower() != key]

    def __contains__(self, name: object) -> bool:
        # Mapping's default goes through __getitem__, which raises
        # MultipleValuesError for repeated headers: that would say "missing".
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        # Equal when every name has the same values in the same order; the
        # relative order of different names and the case of names don't count.
        if not isinstance(other, Headers):
            return NotImplemented
        return self._values == other._values

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    def clear(self) -> None:
        """Remove every header."""
        self._items.clear()
        self._values.clear()
        self._names.clear()

    def copy(self) -> Headers:
        """Return an independent copy."""
        return type(self)(self)

    def get_all(self, name: str) -> list[str]:
        """Return every value of a header, in order; an empty list when it's missing."""
        return list(self._values.get(name.lower(), ()))

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Yield every ``(name, value)`` pair in order, with the names' original case."""
        return iter(list(self._items))

    def update(self, *args: HeadersLike, **kwargs: str) -> None:  # type: ignore[override]
        """Append headers from :class:`Headers`, mappings, iterables of pairs or keywords.

        Unlike :meth:`dict.update`, existing values are kept: HTTP headers may
        repeat.

        Raises:
            ValueError: See :meth:`__setitem__`.
            TypeError: See :meth:`__setitem__`.
        """
        for arg in args:
            pairs: Iterable[tuple[str, str]]
            if isinstance(arg, Headers):
                pairs = arg.raw_items()
            elif isinstance(arg, Mapping):
                pairs = arg.items()
            else:
                pairs = arg
            for name, value in pairs:
                self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def serialize(self) -> bytes:
        """Return the header lines, each ending with CRLF, then the empty line ending the head.

        Values are encoded as UTF-8, though peers only accept ASCII reliably.
        """
        lines = [f"{name}: {value}\r\n" for name, value in self._items]
        lines.append("\r\n")
        return "".join(lines).encode()


#: What the API accepts wherever it takes headers.
HeadersLike = Headers | Mapping[str, str] | Iterable[tuple[str, str]]


def _parse_token(header: str, pos: int, name: str) -> tuple[str, int]:
    """Read a token at ``pos``; return it and the position after it."""
    match = _TOKEN_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token", header, pos)
    return match.group(), match.end()


def _parse_quoted_string(header: str, pos: int, name: str) -> tuple[str, int]:
    """Read a quoted-string at ``pos``; return its unquoted content and the position after it."""
    match = _QUOTED_STRING_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected quoted string", header, pos)
    return _QUOTED_PAIR_RE.sub(r"\1", match.group()[1:-1]), match.end()


def _skip_ows(header: str, pos: int) -> int:
    match = _OWS_RE.match(header, pos)
    assert match is not None  # it matches the empty string
    return match.end()


def _skip_empty_elements(header: str, pos: int) -> int:
    match = _EMPTY_ELEMENTS_RE.match(header, pos)
    assert match is not None  # it matches the empty string
    return match.end()


def _parse_list(
    parse_item: Callable[[str, int, str], tuple[_T, int]],
    header: str,
    name: str,
) -> list[_T]:
    """Parse a ``1#element`` list (RFC 7230 §7), tolerating empty elements.

    Raises:
        InvalidHeaderFormat: When an element is malformed, two elements aren't
            separated by a comma, or the list has no element at all.
    """
    items: list[_T] = []
    pos = _skip_empty_elements(header, 0)
    while pos < len(header):
        item, pos = parse_item(header, pos, name)
        items.append(item)
        pos = _skip_ows(header, pos)
        if pos == len(header):
            break
        if header[pos] != ",":
            raise InvalidHeaderFormat(name, "expected comma", header, pos)
        pos = _skip_empty_elements(header, pos)
    if not items:
        raise InvalidHeaderFormat(name, "expected at least one element", header, pos)
    return items


def _parse_protocol(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _PROTOCOL_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected protocol", header, pos)
    return match.group(), match.end()


def parse_connection(header: str) -> list[str]:
    """Parse a Connection header value into its connection options (RFC 7230 §6.1).

    Raises:
        InvalidHeaderFormat: When the value isn't a list of tokens.
    """
    return _parse_list(_parse_token, header, "Connection")


def parse_upgrade(header: str) -> list[str]:
    """Parse an Upgrade header value into protocols like ``websocket`` or ``foo/1.0``.

    RFC 7230 §6.7 defines the grammar.

    Raises:
        InvalidHeaderFormat: When the value isn't a list of protocols.
    """
    return _parse_list(_parse_protocol, header, "Upgrade")


def require_upgrade_token(
    headers: Headers, name: str, token: str, parse: Callable[[str], list[str]]
) -> None:
    """Check that header ``name`` of an opening handshake lists ``token`` (RFC 6455 §4).

    ``parse`` splits a value into its items (:func:`parse_upgrade`,
    :func:`parse_connection`); items compare ASCII case-insensitively with
    ``token``, given in lower case. The usual single value that is the token
    itself is recognized without parsing.

    Raises:
        InvalidUpgrade: The header is missing or doesn't list ``token``.
        InvalidHeaderFormat: A value isn't a list of items.
    """
    values = headers.get_all(name)
    if len(values) == 1 and values[0].isascii() and values[0].lower() == token:
        return
    if token not in [item.lower() for value in values for item in parse(value)]:
        raise InvalidUpgrade(name, ", ".join(values) if values else None)


def parse_subprotocol_list(header: str) -> list[str]:
    """Parse a Sec-WebSocket-Protocol header value (RFC 6455 §4.3: ``1#token``).

    Raises:
        InvalidHeaderFormat: When the value isn't a list of tokens.
    """
    return _parse_list(_parse_token, header, "Sec-WebSocket-Protocol")


def validate_subprotocols(subprotocols: Sequence[str]) -> None:
    """Check that ``subprotocols`` is a sequence of tokens, as the header needs.

    Raises:
        TypeError: When it's a lone string (a common slip for ``[name]``), not a
            sequence, or holds something else than strings.
        ValueError: When a subprotocol isn't a token.
    """
    if isinstance(subprotocols, str | bytes):
        raise TypeError("subprotocols must be a list of str, not a single string")
    if not isinstance(subprotocols, Sequence):
        raise TypeError(f"subprotocols must be a list of str, got {subprotocols!r}")
    for subprotocol in subprotocols:
        if not isinstance(subprotocol, str):
            raise TypeError(f"subprotocols must be str, got {subprotocol!r}")
        if _TOKEN_RE.fullmatch(subprotocol) is None:
            raise ValueError(f"invalid subprotocol: {subprotocol!r}")


def build_subprotocol_list(subprotocols: Sequence[str]) -> str:
    """Build a Sec-WebSocket-Protocol header value.

    Raises:
        TypeError: See :func:`validate_subprotocols`.
        ValueError: See :func:`validate_subprotocols`.
    """
    validate_subprotocols(subprotocols)
    return ", ".join(subprotocols)


def _parse_extension_param(header: str, pos: int, name: str) -> tuple[tuple[str, str | None], int]:
    """Read ``token [ "=" ( token / quoted-string ) ]`` (RFC 6455 §9.1)."""
    param_name, pos = _parse_token(header, pos, name)
    after_name = pos
    pos = _skip_ows(header, pos)
    if pos == len(header) or header[pos] != "=":
        return (param_name, None), after_name
    pos = _skip_ows(header, pos + 1)
    value: str
    if header.startswith('"', pos):
        value_pos = pos
        value, pos = _parse_quoted_string(header, pos, name)
        # RFC 6455 §9.1: "When using the quoted-string syntax variant, the value
        # after quoted-string unescaping MUST conform to the 'token' ABNF."
        if _TOKEN_RE.fullmatch(value) is None:
            raise InvalidHeaderFormat(name, "invalid quoted parameter value", header, value_pos)
    else:
        value, pos = _parse_token(header, pos, name)
    return (param_name, value), pos


def _parse_extension(header: str, pos: int, name: str) -> tuple[ExtensionHeader, int]:
    """Read ``extension-token *( ";" extension-param )`` (RFC 6455 §9.1)."""
    extension_name, pos = _parse_token(header, pos, name)
    params: list[tuple[str, str | None]] = []
    while True:
        after = pos
        pos = _skip_ows(header, pos)
        if pos == len(header) or header[pos] != ";":
            return (extension_name, params), after
        pos = _skip_ows(header, pos + 1)
        param, pos = _parse_extension_param(header, pos, name)
        params.append(param)


def parse_extension_list(header: str) -> list[ExtensionHeader]:
    """Parse a Sec-WebSocket-Extensions header value (RFC 6455 §9.1).

    Returns:
        ``(name, [(param, value or None), ...])`` for each extension, in order.
        Quoted parameter values are returned unquoted.

    Raises:
        InvalidHeaderFormat: When the value doesn't follow the grammar.
    """
    return _parse_list(_parse_extension, header, "Sec-WebSocket-Extensions")


def build_extension_list(extensions: Sequence[ExtensionHeader]) -> str:
    """Build a Sec-WebSocket-Extensions header value.

    Raises:
        ValueError: When a name or a parameter value isn't a token (RFC 6455
            §9.1 allows nothing else, even quoted).
    """
    entries = []
    for extension_name, params in extensions:
        _check_token(extension_name)
        parts = [extension_name]
        for param_name, value in params:
            _check_token(param_name)
            if value is None:
                parts.append(param_name)
            else:
                _check_token(value)
                parts.append(f"{param_name}={value}")
        entries.append("; ".join(parts))
    return ", ".join(entries)


def _check_token(value: str) -> None:
    if _TOKEN_RE.fullmatch(value) is None:
        raise ValueError(f"invalid extension token: {value!r}")


def build_authorization_basic(username: str, password: str) -> str:
    """Build an Authorization header value for HTTP Basic auth (RFC 7617).

    Raises:
        ValueError: When the username contains a colon, which RFC 7617 §2
            forbids since the colon separates it from the password.
    """
    if ":" in username:
        raise ValueError("a Basic auth username cannot contain a colon")
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {credentials}"


def parse_authorization_basic(header: str) -> tuple[str, str]:
    """Parse an Authorization header value for HTTP Basic auth (RFC 7617).

    Returns:
        The username and the password.

    Raises:
        InvalidHeaderFormat: When the value isn't ``Basic <token68>``.
        InvalidHeaderValue: When the credentials aren't base64 of
            ``username:password`` in UTF-8.
    """
    name = "Authorization"
    scheme, pos = _parse_token(header, 0, name)
    if scheme.lower() != "basic":
        raise InvalidHeaderValue(name, f"unsupported scheme: {scheme}")
    if not header.startswith(" ", pos):
        raise InvalidHeaderFormat(name, "expected space after scheme", header, pos)
    pos = _skip_ows(header, pos)
    match = _TOKEN68_RE.fullmatch(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token68", header, pos)
    try:
        decoded = base64.b64decode(match.group(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidHeaderValue(name, "invalid credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidHeaderValue(name, "credentials without colon")
    return username, password
