"""JSON API for regions: children for cascading selects, one region with its tier, tier overrides.

The division data is public reference data (no personal data), so the lookups need no login:
H5 forms (a consumer or courier picking a district) use them as well as the console.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from siyu.regions import service
from siyu.regions.rules import CITY_TIER_LABELS, REGION_LEVEL_LABELS, CityTier, Region
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["regions"])


class RegionOut(BaseModel):
    code: str
    name: str
    display_name: str
    level: str
    level_label: str
    parent_code: str | None
    has_children: bool
    tier: CityTier | None
    tier_label: str | None


class RegionDetailOut(RegionOut):
    full_name: str
    path: list[RegionOut]


class TierOverrideIn(BaseModel):
    tier: CityTier | None = Field(description="null removes the correction")
    reason: str = Field(default="", max_length=500)


class TierOverrideOut(BaseModel):
    city_code: str
    name: str
    tier: CityTier | None


def _out(session: DbSession, region: Region) -> RegionOut:
    tier = service.tier_of(session, region.code)
    return RegionOut(
        code=region.code,
        name=region.name,
        display_name=region.display_name,
        level=region.level.value,
        level_label=REGION_LEVEL_LABELS[region.level],
        parent_code=region.parent_code,
        has_children=bool(service.regions().children_of.get(region.code)),
        tier=tier,
        tier_label=CITY_TIER_LABELS[tier] if tier is not None else None,
    )


@router.get("/regions", response_model=list[RegionOut])
def list_regions(session: DbSession, parent: str = "") -> list[RegionOut]:
    """Provinces without ``parent``; otherwise the direct children of ``parent``."""
    return [_out(session, region) for region in service.children(parent.strip() or None)]


@router.get("/regions/{code}", response_model=RegionDetailOut)
def get_region(code: str, session: DbSession) -> RegionDetailOut:
    region = service.get(code)
    return RegionDetailOut(
        **_out(session, region).model_dump(),
        full_name=service.full_name(region.code),
        path=[_out(session, item) for item in service.regions().path(region.code)],
    )


@router.put("/city-tiers/{code}", response_model=TierOverrideOut)
def put_city_tier(
    code: str, data: TierOverrideIn, user: ApiUser, session: DbSession
) -> TierOverrideOut:
    service.set_tier_override(session, user, code, data.tier, data.reason)
    region = service.get(code)
    return TierOverrideOut(
        city_code=region.code, name=region.display_name, tier=service.tier_of(session, code)
    )
