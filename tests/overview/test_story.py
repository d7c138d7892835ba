"""演示导览: every step of the seed's story, its figures counted from the fact tables."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.errors import PermissionDenied
from siyu.models import Merchant, Product, ReviewStatus, Role
from siyu.overview.story import StoryStep, story
from tests.conftest import ConsoleClient

KEYS = [
    "catalog",
    "fleet",
    "codes",
    "poster",
    "script",
    "group",
    "moments",
    "broadcast",
    "courier",
    "links",
    "orders",
    "commissions",
    "payout",
    "dashboards",
    "forecast",
]


def _figures(steps: list[StoryStep], key: str) -> dict[str, str]:
    step = next(step for step in steps if step.key == key)
    return {figure.label: figure.value for figure in step.figures}


def _staff(role: Role = Role.OPERATOR) -> Principal:
    return Principal(user_id=1, username="ops", display_name="运营", role=role)


class TestStory:
    def test_an_empty_installation_shows_every_step_with_zeros(self, session: Session) -> None:
        steps = story(session, _staff())
        assert [step.key for step in steps] == KEYS
        assert all(step.empty for step in steps if step.figures)
        assert _figures(steps, "orders") == {"订单（未取消）": "0", "成交额": "¥0.00"}
        # No object to point at yet: only the pages.
        poster = next(step for step in steps if step.key == "poster")
        assert [link.href for link in poster.links] == ["/console/campaigns"]

    def test_figures_count_the_rows(self, session: Session) -> None:
        orchard = Merchant(name="鲜丰果园")
        for title, status, on_shelf in [
            ("赣南脐橙 5斤", ReviewStatus.APPROVED, True),
            ("烟台红富士 10斤", ReviewStatus.APPROVED, False),  # off the shelf: not in the pool
            ("四川丑橘 3斤", ReviewStatus.PENDING, False),
        ]:
            session.add(
                Product(
                    merchant=orchard,
                    title=title,
                    category="生鲜水果",
                    list_price_fen=5990,
                    promo_price_fen=3990,
                    stock=100,
                    commission_rate_bp=500,
                    platform_take_bp=1000,
                    review_status=status,
                    on_shelf=on_shelf,
                )
            )
        session.add(Merchant(name="行者箱包"))
        session.flush()
        steps = story(session, _staff(Role.ADMIN))
        assert _figures(steps, "catalog") == {"商家": "2", "推广池商品": "1"}
        assert not next(step for step in steps if step.key == "catalog").empty

    @pytest.mark.parametrize("role", [Role.MERCHANT, Role.PROMOTER])
    def test_only_platform_staff(self, session: Session, role: Role) -> None:
        with pytest.raises(PermissionDenied):
            story(session, Principal(user_id=2, username="m", display_name="m", role=role))

    def test_console_page(self, client: ConsoleClient, admin: Any) -> None:
        client.login("admin")
        page = client.get("/console/story")
        assert page.status_code == 200
        assert page.text.count('data-testid="story-step"') == len(KEYS)
        assert "从海报到提现" in page.text
        assert "还没有数据" in page.text
