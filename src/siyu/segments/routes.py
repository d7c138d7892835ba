"""JSON API: live counts, saved segments, snapshots, CSV export, tags, release rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from siyu.models.segments import TagKind
from siyu.segments import releases, tags
from siyu.segments import service as segments
from siyu.segments.schemas import CountOut, SegmentIn, SegmentOut, SegmentRule, SnapshotOut
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["segments"])


class CountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any] = Field(default_factory=dict)
    all_owners: bool = False


class MaterialiseIn(BaseModel):
    purpose: str = "broadcast"


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=32)
    kind: TagKind = TagKind.MANUAL
    color: str = "secondary"
    description: str = Field(default="", max_length=200)
    rule: dict[str, Any] | None = None


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    owner_promoter_id: int | None
    color: str
    description: str
    contacts_count: int


class TagContactsIn(BaseModel):
    contact_ids: list[int] = Field(min_length=1, max_length=tags.TAG_BATCH_LIMIT)


class ReleaseRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    rule: dict[str, Any]
    max_per_run: int = 1000


class ReleaseRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    owner_promoter_id: int | None
    rule: dict[str, Any]
    is_active: bool
    max_per_run: int
    last_released: int


@router.post("/segments/count", response_model=CountOut)
def count(data: CountIn, user: ApiUser, session: DbSession) -> CountOut:
    matched, reachable = segments.count(session, user, data.rule, data.all_owners)
    return CountOut(count=matched, reachable=reachable)


@router.get("/segments", response_model=list[SegmentOut])
def list_segments(user: ApiUser, session: DbSession) -> list[SegmentOut]:
    return [SegmentOut.model_validate(item) for item in segments.list_segments(session, user)]


@router.post("/segments", response_model=SegmentOut, status_code=201)
def create_segment(data: dict[str, Any], user: ApiUser, session: DbSession) -> SegmentOut:
    # Parsed here (not by FastAPI) so a bad rule is one segment_rule_invalid error.
    rule = segments.parse_rule(data.get("rule") or {})
    payload = SegmentIn.model_validate({**data, "rule": SegmentRule()}).model_copy(
        update={"rule": rule}
    )
    return SegmentOut.model_validate(segments.create_segment(session, user, payload))


@router.get("/segments/{segment_id}", response_model=SegmentOut)
def get_segment(segment_id: int, user: ApiUser, session: DbSession) -> SegmentOut:
    return SegmentOut.model_validate(segments.get_segment(session, user, segment_id))


@router.get("/segments/{segment_id}/count", response_model=CountOut)
def count_segment(segment_id: int, user: ApiUser, session: DbSession) -> CountOut:
    matched, reachable = segments.count_segment(session, user, segment_id)
    return CountOut(count=matched, reachable=reachable)


@router.post("/segments/{segment_id}/snapshots", response_model=SnapshotOut, status_code=201)
def materialise(
    segment_id: int, data: MaterialiseIn, user: ApiUser, session: DbSession
) -> SnapshotOut:
    snapshot = segments.materialise(session, user, segment_id, data.purpose)
    return SnapshotOut.model_validate(snapshot)


@router.get("/segments/{segment_id}/export.csv")
def export(segment_id: int, user: ApiUser, session: DbSession) -> Response:
    text, _rows = segments.export_csv(session, user, segment_id)
    return Response(text, media_type="text/csv; charset=utf-8")


@router.get("/tags", response_model=list[TagOut])
def list_tags(user: ApiUser, session: DbSession) -> list[TagOut]:
    return [TagOut.model_validate(item) for item in tags.list_tags(session, user)]


@router.post("/tags", response_model=TagOut, status_code=201)
def create_tag(data: TagIn, user: ApiUser, session: DbSession) -> TagOut:
    tag = tags.create_tag(
        session, user, data.name, data.kind, data.color, data.description, data.rule
    )
    return TagOut.model_validate(tag)


@router.post("/tags/{tag_id}/contacts")
def tag_contacts(
    tag_id: int, data: TagContactsIn, user: ApiUser, session: DbSession
) -> dict[str, int]:
    return {"added": tags.tag_contacts(session, user, tag_id, data.contact_ids)}


@router.post("/tags/{tag_id}/refresh")
def refresh_tag(tag_id: int, user: ApiUser, session: DbSession) -> dict[str, int]:
    tags.get_tag(session, user, tag_id)
    added, removed = tags.refresh_rule_tag(session, tag_id)
    return {"added": added, "removed": removed}


@router.get("/release-rules", response_model=list[ReleaseRuleOut])
def list_release_rules(user: ApiUser, session: DbSession) -> list[ReleaseRuleOut]:
    return [ReleaseRuleOut.model_validate(item) for item in releases.list_rules(session, user)]


@router.post("/release-rules", response_model=ReleaseRuleOut, status_code=201)
def create_release_rule(data: ReleaseRuleIn, user: ApiUser, session: DbSession) -> ReleaseRuleOut:
    rule = releases.create_rule(session, user, data.name, data.rule, data.max_per_run)
    return ReleaseRuleOut.model_validate(rule)


@router.post("/release-rules/{rule_id}/run")
def run_release_rule(rule_id: int, user: ApiUser, session: DbSession) -> dict[str, int]:
    run = releases.run_rule(session, user, rule_id)
    return {
        "matched": run.matched,
        "requested": run.requested,
        "assisted": run.assisted,
        "automated": run.automated,
    }
