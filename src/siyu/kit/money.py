"""Money is integer fen (分); rates are integer basis points (1% = 100 bp).

This module holds the one rounding helper and the conversions at the edges (yuan strings typed
by people, percentage strings). Floats are never accepted as money.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from siyu.errors import MoneyInvalid, RateInvalid

BP_DENOMINATOR = 10_000
MAX_FEN = 10**13  # 1000亿元: a sanity bound that keeps values inside BIGINT and JS numbers.

# ASCII digits only: full-width or other scripts' digits are turned away, not silently read.
_YUAN_PATTERN = re.compile(r"^\d+(\.\d{1,2})?$", re.ASCII)
_PERCENT_PATTERN = re.compile(r"^\d+(\.\d{1,2})?$", re.ASCII)


def apply_bp(base_fen: int, rate_bp: int) -> int:
    """floor(base × bp / 10000) on integers: the one rounding rule for every rate."""
    if isinstance(base_fen, bool) or not isinstance(base_fen, int):
        raise TypeError("base_fen must be int")
    if isinstance(rate_bp, bool) or not isinstance(rate_bp, int):
        raise TypeError("rate_bp must be int")
    if base_fen < 0:
        # Floor toward zero for negatives so a reversal mirrors the original exactly.
        return -((-base_fen * rate_bp) // BP_DENOMINATOR)
    return (base_fen * rate_bp) // BP_DENOMINATOR


def check_fen(value: object, field: str, field_zh: str) -> int:
    """Accept only non-negative integer fen (no bools, no floats)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > MAX_FEN:
        raise MoneyInvalid(field=field, field_zh=field_zh, value=value)
    return value


def check_bp(value: object, field: str, field_zh: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BP_DENOMINATOR:
        raise RateInvalid(field=field, field_zh=field_zh, value=value)
    return value


def parse_yuan(text: str, field: str, field_zh: str) -> int:
    """Parse what a person types ("12", "12.5", "12.50", "¥12.50") into fen."""
    cleaned = text.strip().replace("¥", "").replace("￥", "").replace(",", "")
    if not _YUAN_PATTERN.match(cleaned):
        raise MoneyInvalid(field=field, field_zh=field_zh, value=text)
    try:
        fen = int(Decimal(cleaned) * 100)
    except InvalidOperation as error:  # pragma: no cover - the pattern already guards this
        raise MoneyInvalid(field=field, field_zh=field_zh, value=text) from error
    if fen > MAX_FEN:
        raise MoneyInvalid(field=field, field_zh=field_zh, value=text)
    return fen


def parse_percent(text: str, field: str, field_zh: str) -> int:
    """Parse "5", "5.5" or "5.25%" into basis points."""
    cleaned = text.strip().rstrip("%").strip()
    if not _PERCENT_PATTERN.match(cleaned):
        raise RateInvalid(field=field, field_zh=field_zh, value=text)
    rate_bp = int(Decimal(cleaned) * 100)
    if rate_bp > BP_DENOMINATOR:
        raise RateInvalid(field=field, field_zh=field_zh, value=text)
    return rate_bp


def format_yuan(fen: int) -> str:
    """12345 -> '123.45' (negative amounts keep their sign)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def format_percent(bp: int) -> str:
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"
