"""Ledger test helpers: units of work, row counts, and principals that own accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import pytest

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.models import LedgerAccount, LedgerEntry, LedgerTransaction, Role
from tests.conftest import count_rows

T = TypeVar("T")
Act = Callable[..., Any]

MERCHANT_ID = 11
PROMOTER_ID = 21
OTHER_PROMOTER_ID = 22


class Counts(NamedTuple):
    accounts: int
    transactions: int
    entries: int


def counts(database: Database) -> Counts:
    return Counts(
        count_rows(database, LedgerAccount),
        count_rows(database, LedgerTransaction),
        count_rows(database, LedgerEntry),
    )


@pytest.fixture
def act(database: Database) -> Act:
    """act(service.fn, *args): one unit of work, committed; a raised error rolls it back."""

    def run(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with database.sessions() as session:
            result = call(session, *args, **kwargs)
            session.commit()
            return result

    return run


def principal(role: Role, **ids: int) -> Principal:
    return Principal(user_id=900, username=f"{role}-user", display_name="测试", role=role, **ids)
