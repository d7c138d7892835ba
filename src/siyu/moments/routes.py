"""JSON API: moment columns, posts (calendar), publications with likes/comments."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from siyu.kit.time import shanghai_day, utc_now
from siyu.moments import service
from siyu.moments.schemas import (
    ColumnIn,
    ColumnOut,
    ColumnStatusIn,
    InteractionIn,
    InteractionPlanOut,
    PostIn,
    PostOut,
    PublicationOut,
)
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["moments"])


@router.get("/moments/columns", response_model=list[ColumnOut])
def list_columns(user: ApiUser, session: DbSession) -> list[ColumnOut]:
    return [ColumnOut.model_validate(column) for column in service.list_columns(session, user)]


@router.post("/moments/columns", response_model=ColumnOut, status_code=201)
def create_column(data: ColumnIn, user: ApiUser, session: DbSession) -> ColumnOut:
    return ColumnOut.model_validate(service.create_column(session, user, data))


@router.post("/moments/columns/{column_id}/status", response_model=ColumnOut)
def set_column_status(
    column_id: int, data: ColumnStatusIn, user: ApiUser, session: DbSession
) -> ColumnOut:
    return ColumnOut.model_validate(
        service.set_column_status(session, user, column_id, data.status)
    )


@router.get("/moments/posts", response_model=list[PostOut])
def week(user: ApiUser, session: DbSession, day: date | None = None) -> list[PostOut]:
    """The posts of the week (Monday–Sunday, Asia/Shanghai) that holds ``day`` (default today)."""
    calendar = service.calendar(session, user, day or shanghai_day(utc_now()))
    return [
        PostOut.model_validate(cell.post)
        for _column, cells in calendar.rows
        for cell in cells
        if cell.post is not None
    ]


@router.post("/moments/posts", response_model=PostOut, status_code=201)
def schedule(data: PostIn, user: ApiUser, session: DbSession) -> PostOut:
    return PostOut.model_validate(service.schedule_post(session, user, data))


@router.get("/moments/posts/{post_id}", response_model=PostOut)
def get_post(post_id: int, user: ApiUser, session: DbSession) -> PostOut:
    return PostOut.model_validate(service.get_post(session, user, post_id))


@router.post("/moments/posts/{post_id}/cancel", response_model=PostOut)
def cancel(post_id: int, user: ApiUser, session: DbSession) -> PostOut:
    return PostOut.model_validate(service.cancel_post(session, user, post_id))


@router.get("/moments/posts/{post_id}/publications", response_model=list[PublicationOut])
def publications(post_id: int, user: ApiUser, session: DbSession) -> list[PublicationOut]:
    return [
        PublicationOut(
            id=view.publication.id,
            account_id=view.publication.account_id,
            due_at=view.publication.due_at,
            status=view.publication.status,
            published_at=view.publication.published_at,
            task_id=view.publication.task_id,
            error=view.publication.error,
            likes=view.likes,
            comments=view.comments,
        )
        for view in service.publications(session, user, post_id)
    ]


@router.post("/moments/publications/{publication_id}/interactions", status_code=201)
def record_interaction(
    publication_id: int, data: InteractionIn, user: ApiUser, session: DbSession
) -> dict[str, int]:
    interaction = service.record_interaction(session, user, publication_id, data)
    return {"id": interaction.id}


@router.post("/moments/accounts/{account_id}/interactions/plan", response_model=InteractionPlanOut)
def plan_interactions(account_id: int, user: ApiUser, session: DbSession) -> InteractionPlanOut:
    user.require_platform()
    plan = service.plan_interactions(session, account_id)
    return InteractionPlanOut(account_id=plan.account_id, likes=plan.likes, comments=plan.comments)
