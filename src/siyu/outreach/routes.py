"""JSON API for broadcasts: compose (with audience count and lint), plan, start, cancel, retry,
results and recipients. Thin: every check is in the service."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from siyu.outreach import service
from siyu.outreach.schemas import (
    AudienceIn,
    BroadcastIn,
    BroadcastOut,
    LintOut,
    PlanOut,
    RecipientOut,
    ResultsOut,
)
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["outreach"])


class PreviewOut(BaseModel):
    audience: int
    reachable: int
    findings: list[LintOut]
    blocking: bool


class StartIn(BaseModel):
    override_reason: str | None = Field(default=None, max_length=500)


class CountOut(BaseModel):
    count: int


def _findings(data: BroadcastIn) -> list[LintOut]:
    return [
        LintOut(
            rule_id=finding.rule_id,
            severity=finding.severity.name.lower(),
            category=finding.category.value,
            excerpt=finding.excerpt,
            message_zh=finding.message_zh,
            suggestion_zh=finding.suggestion_zh,
            blocking=finding.blocking,
        )
        for finding in service.lint(data)
    ]


@router.post("/broadcasts/preview", response_model=PreviewOut)
def preview(data: BroadcastIn, user: ApiUser, session: DbSession) -> PreviewOut:
    """The composer's live view: who is in the audience and what the lint says (writes nothing)."""
    audience, reachable = service.audience_count(session, user, data.audience)
    findings = _findings(data)
    return PreviewOut(
        audience=audience,
        reachable=reachable,
        findings=findings,
        blocking=any(item.blocking for item in findings),
    )


@router.post("/broadcasts/plan-preview", response_model=PlanOut)
def plan_preview(data: BroadcastIn, user: ApiUser, session: DbSession) -> PlanOut:
    """Now / later / never with reasons for this draft, computed and then discarded."""
    return service.preview_plan(session, user, data)


@router.post("/broadcasts/audience-count", response_model=PreviewOut)
def audience_count(data: AudienceIn, user: ApiUser, session: DbSession) -> PreviewOut:
    audience, reachable = service.audience_count(session, user, data)
    return PreviewOut(audience=audience, reachable=reachable, findings=[], blocking=False)


@router.post("/broadcasts", response_model=BroadcastOut, status_code=201)
def create(data: BroadcastIn, user: ApiUser, session: DbSession) -> BroadcastOut:
    """A draft, planned at once: its ``plan`` says how many now / later / never and why."""
    return BroadcastOut.model_validate(service.create_broadcast(session, user, data))


@router.get("/broadcasts", response_model=list[BroadcastOut])
def list_all(user: ApiUser, session: DbSession) -> list[BroadcastOut]:
    return [BroadcastOut.model_validate(item) for item in service.list_broadcasts(session, user)]


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut)
def get(broadcast_id: int, user: ApiUser, session: DbSession) -> BroadcastOut:
    return BroadcastOut.model_validate(service.get_broadcast(session, user, broadcast_id))


@router.post("/broadcasts/{broadcast_id}/plan", response_model=PlanOut)
def replan(broadcast_id: int, user: ApiUser, session: DbSession) -> PlanOut:
    return service.plan(session, user, broadcast_id)


@router.post("/broadcasts/{broadcast_id}/start", response_model=BroadcastOut)
def start(broadcast_id: int, data: StartIn, user: ApiUser, session: DbSession) -> BroadcastOut:
    return BroadcastOut.model_validate(
        service.start(session, user, broadcast_id, data.override_reason)
    )


@router.post("/broadcasts/{broadcast_id}/cancel", response_model=CountOut)
def cancel(broadcast_id: int, user: ApiUser, session: DbSession) -> CountOut:
    return CountOut(count=service.cancel(session, user, broadcast_id))


@router.post("/broadcasts/{broadcast_id}/retry", response_model=CountOut)
def retry(broadcast_id: int, user: ApiUser, session: DbSession) -> CountOut:
    return CountOut(count=service.retry_failed(session, user, broadcast_id))


@router.get("/broadcasts/{broadcast_id}/results", response_model=ResultsOut)
def results(broadcast_id: int, user: ApiUser, session: DbSession) -> ResultsOut:
    return service.results(session, user, broadcast_id)


@router.get("/broadcasts/{broadcast_id}/recipients", response_model=list[RecipientOut])
def recipients(
    broadcast_id: int, user: ApiUser, session: DbSession, page: int = 1
) -> list[RecipientOut]:
    """One page (50) of send rows with nicknames; each read is logged (personal data)."""
    return [
        RecipientOut(
            send_id=item.send.id,
            account_id=item.send.account_id,
            contact_id=item.send.contact_id,
            group_id=item.send.group_id,
            nickname=item.nickname,
            status=item.send.status.value,
            reason=item.send.reason,
            due_at=item.send.due_at,
            sent_at=item.send.sent_at,
        )
        for item in service.recipients(session, user, broadcast_id, page)
    ]
