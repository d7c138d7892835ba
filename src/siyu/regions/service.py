"""Regions and the effective city tier table. Never commits.

The tier table in force = the shipped file (``data/city_tiers.tsv``), then the file at
``SIYU_CITY_TIERS_PATH`` if set (its lines win), then the platform's ``city_tier_override`` rows
(they win over both). Lookups of the division data need no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.config import current_settings
from siyu.errors import ValidationFailed
from siyu.models.regions import CityTierOverride
from siyu.regions import rules
from siyu.regions.rules import CityTier, Region, RegionTable, TierTable

REASON_MAX_LENGTH = 500


class TierFileUnreadable(ValidationFailed):
    status = 500
    code = "tier_file_unreadable"
    message_en = "SIYU_CITY_TIERS_PATH {path} cannot be read: {why}."
    message_zh = "城市等级文件 {path} 无法读取：{why}。"


def regions() -> RegionTable:
    return rules.shipped_regions()


def validate_code(code: str) -> str:
    return regions().validate(code)


def get(code: str) -> Region:
    return regions().get(code)


def children(code: str | None) -> list[Region]:
    return regions().children(code or None)


def full_name(code: str) -> str:
    """'' for an empty code (a contact who never said where they live)."""
    return regions().full_name(code) if code else ""


def region_of_text(text: str) -> Region | None:
    """A 6-digit code or an address (浙江省杭州市西湖区…) → the region, None if not found."""
    cleaned = text.strip()
    if rules.CODE_PATTERN.match(cleaned):
        return regions().regions.get(cleaned)
    return regions().parse_address(cleaned) if cleaned else None


# --- tiers ----------------------------------------------------------------------------------------

_file_cache: dict[tuple[str, float], TierTable] = {}
_codes_cache: dict[tuple[tuple[tuple[str, str], ...], frozenset[CityTier]], list[str]] = {}
CODES_CACHE_SIZE = 64


def _file_table() -> TierTable:
    base = rules.shipped_tiers()
    path = current_settings().city_tiers_path
    if path is None:
        return base
    try:
        key = (str(path), Path(path).stat().st_mtime)
        cached = _file_cache.get(key)
        if cached is None:
            text = Path(path).read_text(encoding="utf-8")
            cached = base.with_overrides(TierTable.from_text(text, regions()).tiers)
            _file_cache.clear()
            _file_cache[key] = cached
    except OSError as error:
        raise TierFileUnreadable(path=str(path), why=error.strerror or str(error)) from error
    return cached


def tier_table(session: Session | None) -> TierTable:
    table = _file_table()
    if session is None:
        return table
    rows = session.execute(select(CityTierOverride.city_code, CityTierOverride.tier)).all()
    if not rows:
        return table
    return table.with_overrides({code: CityTier(tier) for code, tier in rows})


def tier_of(session: Session | None, code: str) -> CityTier | None:
    return rules.tier_of(regions(), tier_table(session), code)


def codes_in_tiers(session: Session | None, tiers: Iterable[CityTier]) -> list[str]:
    """City- and district-level codes of the given tiers under the table in force (cached)."""
    table = tier_table(session)
    entries = tuple(sorted((code, tier.value) for code, tier in table.tiers.items()))
    key = (entries, frozenset(tiers))
    cached = _codes_cache.get(key)
    if cached is None:
        cached = rules.codes_in_tiers(regions(), table, key[1])
        if len(_codes_cache) >= CODES_CACHE_SIZE:
            _codes_cache.clear()
        _codes_cache[key] = cached
    return cached


def list_overrides(session: Session) -> Sequence[CityTierOverride]:
    return session.scalars(select(CityTierOverride).order_by(CityTierOverride.city_code)).all()


def set_tier_override(
    session: Session, actor: Principal, code: str, tier: CityTier | None, reason: str
) -> CityTierOverride | None:
    """Platform admins correct a city's tier (None removes the correction). Audited."""
    actor.require_admin()
    city_code = rules.check_tier_key(regions(), code)
    reason = reason.strip()[:REASON_MAX_LENGTH]
    row = session.scalar(select(CityTierOverride).where(CityTierOverride.city_code == city_code))
    before = row.tier if row is not None else None
    if tier is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        row = CityTierOverride(
            city_code=city_code, tier=tier.value, reason=reason, updated_by_user_id=actor.user_id
        )
        session.add(row)
    else:
        row.tier = tier.value
        row.reason = reason
        row.updated_by_user_id = actor.user_id
    session.flush()
    audit.record(
        session,
        actor.user_id or None,
        "region.tier_overridden",
        "city_tier_override",
        None,
        reason or None,
        city_code=city_code,
        before=before,
        after=tier.value if tier is not None else None,
    )
    return row if tier is not None else None
