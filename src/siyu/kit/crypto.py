"""Personal data at rest: phones encrypted (Fernet), found by a keyed blind index, shown masked."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet

from siyu.config import current_settings
from siyu.errors import ValidationFailed

_PHONE_PATTERN = re.compile(r"^1[3-9]\d{9}$")


class PhoneInvalid(ValidationFailed):
    code = "phone_invalid"
    message_en = "Phone must be an 11-digit mainland mobile number, got {value!r}."
    message_zh = "手机号格式不正确（应为 11 位大陆手机号），您输入的是“{value}”。"


def normalize_phone(raw: str) -> str:
    digits = re.sub(r"[\s\-]", "", raw.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    if not _PHONE_PATTERN.match(digits):
        raise PhoneInvalid(value=raw)
    return digits


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def _key() -> str:
    return current_settings().resolved_encryption_key


def encrypt(plain: str) -> str:
    return _fernet(_key()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet(_key()).decrypt(token.encode()).decode()


def blind_index(value: str) -> str:
    """Keyed hash for equality lookups on encrypted values (dedupe by phone)."""
    secret = hashlib.sha256(("blind-index:" + _key()).encode()).digest()
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else "****"
