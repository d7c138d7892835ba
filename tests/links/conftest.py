"""Tracked-link fixtures: a pooled product, promoters with logins, links made through the service,
and a click buffer that never outlives its test's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from siyu.db import Database
from siyu.kit.time import utc_now
from siyu.links import service
from siyu.links.clicks import stop_click_buffer
from siyu.links.schemas import LinkCreate
from siyu.models import Click, LinkPosition, TrackedLink
from tests.catalog.conftest import Catalog, catalog  # noqa: F401  (fixture)
from tests.promoters.conftest import MadePromoter, make_promoter  # noqa: F401  (fixture)

MakePromoter = Callable[..., MadePromoter]


@pytest.fixture(autouse=True)
def _click_buffer_per_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Flush and stop the process-wide buffer before the test's database goes away."""
    if "database" in request.fixturenames:
        request.getfixturevalue("database")
    yield
    stop_click_buffer()


@dataclass(frozen=True)
class Shop:
    merchant_id: int
    product_id: int


@pytest.fixture
def shop(catalog: Catalog) -> Shop:  # noqa: F811
    merchant_id = catalog.merchant("甲品牌旗舰店")
    return Shop(merchant_id, catalog.approved(merchant_id, title="拉杆箱 20 寸"))


@pytest.fixture
def alice(make_promoter: MakePromoter) -> MadePromoter:  # noqa: F811
    return make_promoter("王小明", 1)


@pytest.fixture
def bob(make_promoter: MakePromoter) -> MadePromoter:  # noqa: F811
    return make_promoter("李四", 2)


@pytest.fixture
def make_link(database: Database) -> Callable[..., int]:
    """make_link(promoter, product_id, position=..., sub_id=...) -> the committed link's id."""

    def factory(
        promoter: MadePromoter,
        product_id: int | None = None,
        position: LinkPosition = LinkPosition.GROUP,
        sub_id: str = "",
        **fields: Any,
    ) -> int:
        with database.sessions() as session:
            link = service.create_link(
                session,
                promoter.principal,
                LinkCreate(product_id=product_id, position=position, sub_id=sub_id, **fields),
            )
            session.commit()
            return link.id

    return factory


def load_link(database: Database, link_id: int) -> TrackedLink:
    with database.sessions() as session:
        link = session.get(TrackedLink, link_id)
        assert link is not None
        session.expunge(link)
        return link


def expire_link(database: Database, link_id: int, days_ago: int = 1) -> None:
    """Move a link's short-form expiry into the past (the clock edge, not a code path)."""
    with database.sessions() as session:
        session.execute(
            update(TrackedLink)
            .where(TrackedLink.id == link_id)
            .values(expires_at=utc_now() - timedelta(days=days_ago))
        )
        session.commit()


def clicks_of(database: Database, link_id: int | None = None) -> list[Click]:
    with database.sessions() as session:
        statement = select(Click).order_by(Click.id)
        if link_id is not None:
            statement = statement.where(Click.link_id == link_id)
        rows = list(session.scalars(statement))
        session.expunge_all()
        return rows
