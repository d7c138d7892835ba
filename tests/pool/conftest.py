from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.models import AccountKind, ChannelCode, OperatorAccount
from siyu.pool import service
from siyu.pool.schemas import AccountCreate, CodeCreate


def make_account(session: Session, name: str = "号", **values: Any) -> OperatorAccount:
    values.setdefault("kind", AccountKind.PERSONAL_ASSISTED)
    values.setdefault("channel_backend", "simulator")
    return service.create_account(session, None, AccountCreate(name=name, **values))


def make_code(session: Session, **values: Any) -> ChannelCode:
    values.setdefault("name", "活码")
    return service.create_code(session, None, CodeCreate(**values))


@pytest.fixture
def fleet(database: Database) -> Any:
    """fleet(n, **caps) -> committed account ids."""

    def factory(count: int, **values: Any) -> list[int]:
        with database.sessions() as session:
            ids = [make_account(session, f"号{i}", **values).id for i in range(count)]
            session.commit()
        return ids

    return factory


from tests.promoters.conftest import make_promoter  # noqa: E402, F401  (fixture re-export)
