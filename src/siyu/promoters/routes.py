"""Promoter JSON API (mounted under /api/v1). Phones only ever leave masked."""

from __future__ import annotations

from fastapi import APIRouter, Request

from siyu.auth.ratelimit import check_signup_allowed
from siyu.kit.pagination import PageRequest
from siyu.models import Promoter, PromoterGrade, PromoterKind, PromoterStatus
from siyu.promoters import service
from siyu.promoters.schemas import (
    BindIn,
    GradeOut,
    GradeUpdate,
    PromoterBrief,
    PromoterMeOut,
    PromoterOut,
    PromoterPageOut,
    ReasonIn,
    SignupIn,
    SignupOut,
    TeamMemberOut,
    TeamOut,
)
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["promoters"])


def _grade(grade: PromoterGrade) -> GradeOut:
    return GradeOut.model_validate(grade)


def _out(promoter: Promoter) -> PromoterOut:
    return PromoterOut(
        id=promoter.id,
        name=promoter.name,
        kind=promoter.kind,
        phone_masked=service.masked_phone(promoter),
        invite_code=promoter.invite_code,
        inviter_id=promoter.inviter_id,
        inviter_name=promoter.inviter.name if promoter.inviter is not None else None,
        grade=_grade(promoter.grade),
        status=promoter.status,
        frozen_reason=promoter.frozen_reason,
        region=promoter.region,
        created_at=promoter.created_at,
    )


def _brief(promoter: Promoter) -> PromoterBrief:
    return PromoterBrief(
        id=promoter.id,
        name=promoter.name,
        phone_masked=service.masked_phone(promoter),
        status=promoter.status,
        grade_name=promoter.grade.name,
        created_at=promoter.created_at,
    )


def _team(team: service.Team) -> TeamOut:
    return TeamOut(
        promoter_id=team.owner.id,
        direct_recruit_count=team.counts.direct_recruits,
        second_level_count=team.counts.second_level,
        page=team.members.request.page,
        pages=team.members.pages,
        members=[
            TeamMemberOut(
                promoter=_brief(member.promoter),
                recruit_count=member.recruit_count,
                recruits=[_brief(recruit) for recruit in member.recruits],
            )
            for member in team.members.items
        ],
    )


@router.post("/promoters/signup", response_model=SignupOut, status_code=201)
def signup(data: SignupIn, request: Request, session: DbSession) -> SignupOut:
    """Public: become a promoter, optionally through an invite code. Log in with /auth/token."""
    check_signup_allowed(request.client.host if request.client else "unknown")
    result = service.sign_up(session, data)
    return SignupOut(promoter=_out(result.promoter), user_id=result.user.id)


@router.get("/promoters", response_model=PromoterPageOut)
def list_promoters(
    user: ApiUser,
    session: DbSession,
    q: str = "",
    grade_id: int | None = None,
    status: PromoterStatus | None = None,
    kind: PromoterKind | None = None,
    page: int = 1,
    size: int = 50,
) -> PromoterPageOut:
    """Platform only. ``q`` is a name fragment or a full phone number."""
    result = service.list_promoters(
        session, user, PageRequest(page, size), q, grade_id=grade_id, status=status, kind=kind
    )
    return PromoterPageOut(
        items=[_out(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        pages=result.pages,
    )


@router.get("/promoters/me", response_model=PromoterMeOut)
def me(user: ApiUser, session: DbSession) -> PromoterMeOut:
    promoter = service.get_own_promoter(session, user)
    counts = service.team_counts(session, user, promoter.id)
    return PromoterMeOut(
        **_out(promoter).model_dump(),
        invite_link=service.invite_link(promoter),
        direct_recruit_count=counts.direct_recruits,
        team_size=counts.team_size,
    )


@router.get("/promoters/me/team", response_model=TeamOut)
def my_team(user: ApiUser, session: DbSession, page: int = 1, size: int = 50) -> TeamOut:
    promoter = service.get_own_promoter(session, user)
    return _team(service.get_team(session, user, promoter.id, PageRequest(page, size)))


@router.post("/promoters/me/bind", response_model=PromoterOut)
def bind(data: BindIn, user: ApiUser, session: DbSession) -> PromoterOut:
    return _out(service.bind_inviter(session, user, data.invite_code))


@router.get("/promoters/{promoter_id}", response_model=PromoterOut)
def get_promoter(promoter_id: int, user: ApiUser, session: DbSession) -> PromoterOut:
    return _out(service.get_promoter(session, user, promoter_id))


@router.get("/promoters/{promoter_id}/team", response_model=TeamOut)
def team(
    promoter_id: int, user: ApiUser, session: DbSession, page: int = 1, size: int = 50
) -> TeamOut:
    return _team(service.get_team(session, user, promoter_id, PageRequest(page, size)))


@router.post("/promoters/{promoter_id}/freeze", response_model=PromoterOut)
def freeze(promoter_id: int, data: ReasonIn, user: ApiUser, session: DbSession) -> PromoterOut:
    return _out(service.freeze_promoter(session, user, promoter_id, data.reason))


@router.post("/promoters/{promoter_id}/unfreeze", response_model=PromoterOut)
def unfreeze(promoter_id: int, data: ReasonIn, user: ApiUser, session: DbSession) -> PromoterOut:
    return _out(service.unfreeze_promoter(session, user, promoter_id, data.reason))


@router.get("/promoter-grades", response_model=list[GradeOut])
def list_grades(user: ApiUser, session: DbSession) -> list[GradeOut]:
    return [_grade(grade) for grade in service.list_grades(session, user)]


@router.patch("/promoter-grades/{grade_id}", response_model=GradeOut)
def update_grade(grade_id: int, data: GradeUpdate, user: ApiUser, session: DbSession) -> GradeOut:
    return _grade(service.update_grade(session, user, grade_id, data))
