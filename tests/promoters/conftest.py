"""Promoter test helpers: committed promoters with logins, and quick lookups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.models import AuditEvent, Promoter, PromoterBinding, PromoterKind, User
from siyu.promoters import service
from siyu.promoters.schemas import PromoterCreate
from tests.conftest import PASSWORD


@dataclass(frozen=True)
class MadePromoter:
    id: int
    name: str
    phone: str
    invite_code: str
    principal: Principal


def phone_for(number: int) -> str:
    return f"138{number:08d}"


@pytest.fixture
def make_promoter(database: Database) -> Callable[..., MadePromoter]:
    """make_promoter("甲", 1, inviter=other): a committed, system-made promoter with its login."""

    def factory(
        name: str,
        number: int,
        inviter: MadePromoter | None = None,
        kind: PromoterKind = PromoterKind.INDIVIDUAL,
    ) -> MadePromoter:
        with database.sessions() as session:
            result = service.create_promoter(
                session,
                None,
                PromoterCreate(
                    name=name,
                    phone=phone_for(number),
                    password=PASSWORD,
                    kind=kind,
                    invite_code=inviter.invite_code if inviter else None,
                ),
            )
            session.commit()
            return MadePromoter(
                id=result.promoter.id,
                name=name,
                phone=phone_for(number),
                invite_code=result.promoter.invite_code,
                principal=Principal.of(result.user),
            )

    return factory


def load(database: Database, promoter_id: int) -> Promoter:
    with database.sessions() as session:
        promoter = session.get(Promoter, promoter_id)
        assert promoter is not None
        session.expunge(promoter)
        return promoter


def inviter_of(database: Database, promoter_id: int) -> int | None:
    return load(database, promoter_id).inviter_id


def bindings_of(database: Database, promoter_id: int) -> list[PromoterBinding]:
    with database.sessions() as session:
        rows = list(
            session.scalars(
                select(PromoterBinding)
                .where(PromoterBinding.promoter_id == promoter_id)
                .order_by(PromoterBinding.id)
            )
        )
        session.expunge_all()
        return rows


def audit_actions(database: Database, object_id: int | None = None) -> list[str]:
    with database.sessions() as session:
        statement = select(AuditEvent.action).order_by(AuditEvent.id)
        if object_id is not None:
            statement = statement.where(AuditEvent.object_id == object_id)
        return list(session.scalars(statement))


def audit_events(database: Database, action: str) -> list[AuditEvent]:
    with database.sessions() as session:
        rows = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
        session.expunge_all()
        return rows


def user_by_username(database: Database, username: str) -> User | None:
    with database.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is not None:
            session.expunge(user)
        return user


def set_binding_mode(settings: Any, mode: str) -> None:
    settings.binding_mode = mode
