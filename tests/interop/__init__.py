"""Interoperability with real peers: aiohttp, websocket-client, Node's ws, Chromium, nginx."""

from __future__ import annotations
