"""The bearer token that guards Recall's HTTP interfaces (`hubs serve`, `hubs mcp --http`): asked for
whenever HUBS_API_TOKEN is set, and required before either listens beyond loopback."""

from __future__ import annotations

import hmac
import ipaddress
import os

TOKEN_VARIABLE = "HUBS_API_TOKEN"
UNAUTHORIZED = f"a bearer token is required: send `Authorization: Bearer <{TOKEN_VARIABLE}>`"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def token_for(host: str, environ: dict[str, str] | None = None) -> str | None:
    """The token requests must carry when serving on `host`: HUBS_API_TOKEN when set; none on
    loopback without it; a ValueError for any other address without it."""
    token = ((environ if environ is not None else os.environ).get(TOKEN_VARIABLE) or "").strip() or None
    if token is None and not is_loopback(host):
        raise ValueError(
            f"serving on {host}, beyond this machine, needs a bearer token: set {TOKEN_VARIABLE}"
            " (clients send `Authorization: Bearer <token>`), or serve on 127.0.0.1"
        )
    return token


def authorized(header: str, token: str) -> bool:
    """Whether an Authorization header carries the token (compared in constant time)."""
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


__all__ = ["TOKEN_VARIABLE", "UNAUTHORIZED", "authorized", "is_loopback", "token_for"]
