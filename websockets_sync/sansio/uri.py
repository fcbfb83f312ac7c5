"""Parse ``ws://`` and ``wss://`` URIs (RFC 6455 §3).

The result holds what the client needs to connect and to build its request:
the host and port for the socket, the resource name for the request line,
and optional credentials for HTTP Basic auth.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

from ..exceptions import InvalidURI

__all__ = ["WebSocketURI", "build_host", "parse_uri"]

# RFC 3986 §2: the characters that may appear unescaped in a path ("%" keeps
# existing escapes); everything else is percent-encoded as UTF-8.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
# RFC 3986 §3.2.2 reg-name after IDNA encoding, or an IPv4 address.
_REG_NAME_RE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=]+")


@dataclass
class WebSocketURI:
    """A parsed WebSocket URI.

    Attributes:
        secure: ``True`` for ``wss://``, which runs over TLS.
        host: The host name or IP address, without brackets for IPv6.
        port: The port, 80 or 443 by default.
        path: The path, percent-encoded; may be empty.
        query: The query string without ``?``, percent-encoded; may be empty.
        username: The username for HTTP Basic auth, if any.
        password: The password for HTTP Basic auth, if any.
    """

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        """The request target: path and query, ``/`` when both are empty (RFC 6455 §3)."""
        resource_name = self.path or "/"
        if self.query:
            resource_name += "?" + self.query
        return resource_name

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` for HTTP Basic auth, or ``None``."""
        if self.username is None:
            return None
        return self.username, self.password or ""


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI.

    Non-ASCII characters in the path and query are percent-encoded as UTF-8;
    non-ASCII host names are encoded with IDNA.

    Raises:
        InvalidURI: When the scheme isn't ``ws`` or ``wss``, the host is
            missing or invalid, the port is invalid, the URI has a fragment
            (RFC 6455 §3 forbids them), or it has a username without a password.
    """
    try:
        parsed = urllib.parse.urlsplit(uri)
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if "#" in uri:
        raise InvalidURI(uri, "fragment identifiers aren't allowed")
    secure = parsed.scheme == "wss"
    host = _parse_host(uri, parsed)
    try:
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if port is None:
        port = 443 if secure else 80
    elif port == 0:
        raise InvalidURI(uri, "port 0 isn't allowed")
    username = parsed.username
    password = parsed.password
    if username is not None and password is None:
        raise InvalidURI(uri, "username provided without password")
    return WebSocketURI(
        secure=secure,
        host=host,
        port=port,
        path=urllib.parse.quote(parsed.path, safe=_PATH_SAFE),
        query=urllib.parse.quote(parsed.query, safe=_QUERY_SAFE),
        username=None if username is None else urllib.parse.unquote(username),
        password=None if password is None else urllib.parse.unquote(password),
    )


def _parse_host(uri: str, parsed: urllib.parse.SplitResult) -> str:
    """Return the host of a parsed URI, ASCII-only, without IPv6 brackets."""
    host = parsed.hostname
    if not host:
        raise InvalidURI(uri, "missing host")
    if parsed.netloc.rpartition("@")[2].startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidURI(uri, "invalid IPv6 address") from None
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidURI(uri, "invalid international host name") from None
    if _REG_NAME_RE.fullmatch(host) is None:
        raise InvalidURI(uri, "invalid host")
    return host


def build_host(host: str, port: int, secure: bool) -> str:
    """Return the Host header value: brackets around IPv6, no port when it's the default."""
    if ":" in host:
        host = f"[{host}]"
    if port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host
