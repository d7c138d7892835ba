"""JSON API: follow-up rules and the follow-ups they created."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.followups import service
from siyu.followups.schemas import FollowupOut, RuleActiveIn, RuleIn, RuleOut
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["followups"])


@router.get("/followups/rules", response_model=list[RuleOut])
def list_rules(user: ApiUser, session: DbSession) -> list[RuleOut]:
    return [RuleOut.model_validate(rule) for rule in service.list_rules(session, user)]


@router.post("/followups/rules", response_model=RuleOut, status_code=201)
def create_rule(data: RuleIn, user: ApiUser, session: DbSession) -> RuleOut:
    return RuleOut.model_validate(service.create_rule(session, user, data))


@router.post("/followups/rules/{rule_id}/active", response_model=RuleOut)
def set_active(rule_id: int, data: RuleActiveIn, user: ApiUser, session: DbSession) -> RuleOut:
    return RuleOut.model_validate(service.set_rule_active(session, user, rule_id, data.active))


@router.get("/followups", response_model=list[FollowupOut])
def recent(user: ApiUser, session: DbSession, limit: int = 100) -> list[FollowupOut]:
    rows = service.recent(session, user, max(1, min(limit, 500)))
    return [FollowupOut.model_validate(row) for row in rows]
