"""Codes people read or type: invite codes, short codes, bill numbers."""

from __future__ import annotations

import secrets

# No 0/O/1/I/L: these codes are read off posters and typed on phones.
READABLE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def readable_code(length: int = 8) -> str:
    return "".join(secrets.choice(READABLE_ALPHABET) for _ in range(length))


def token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
