"""Password hashing (Argon2id) and API-token hashing."""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from siyu.kit.ids import token

_hasher = PasswordHasher()

# Verifying against this keeps the time of a login for an unknown user close to a real one.
_DUMMY_HASH = _hasher.hash("siyu-dummy-password")

API_TOKEN_PREFIX = "siyu_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + token(30)


def hash_api_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
