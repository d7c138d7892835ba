"""One function per audit event: every decision a person makes about another's object is logged."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.models import AuditEvent


def record(
    session: Session,
    actor_user_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None,
    reason: str | None = None,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor_user_id=actor_user_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        reason=reason,
        detail=detail,
    )
    session.add(event)
    return event


def product_reviewed(
    session: Session, actor_user_id: int | None, product_id: int, approved: bool, reason: str | None
) -> AuditEvent:
    action = "product.approved" if approved else "product.rejected"
    return record(session, actor_user_id, action, "product", product_id, reason)


def promoter_frozen(
    session: Session, actor_user_id: int, promoter_id: int, frozen: bool, reason: str
) -> AuditEvent:
    action = "promoter.frozen" if frozen else "promoter.unfrozen"
    return record(session, actor_user_id, action, "promoter", promoter_id, reason)


def promoter_rebound(
    session: Session,
    actor_user_id: int | None,
    promoter_id: int,
    previous_inviter_id: int | None,
    inviter_id: int | None,
) -> AuditEvent:
    return record(
        session,
        actor_user_id,
        "promoter.rebound",
        "promoter",
        promoter_id,
        previous_inviter_id=previous_inviter_id,
        inviter_id=inviter_id,
    )


def user_role_changed(
    session: Session, actor_user_id: int, user_id: int, role: str, active: bool
) -> AuditEvent:
    return record(session, actor_user_id, "user.changed", "user", user_id, role=role, active=active)


def login_failed(session: Session, username: str, client: str) -> AuditEvent:
    return record(
        session, None, "auth.login_failed", "user", None, username=username, client=client
    )
