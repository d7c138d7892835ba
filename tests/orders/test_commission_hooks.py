"""Orders call the commission hooks in the same transaction (integration with commissions)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Commission
from siyu.orders import service
from tests.orders.conftest import Shop, h5_draft
from tests.promoters.conftest import MadePromoter

pytestmark = pytest.mark.skipif(
    not service.COMMISSION_HOOKS,
    reason="siyu.commissions.service has no on_order_placed/... hooks yet (commissions helper)",
)


def test_placed_order_creates_l1_and_l2_commissions(
    session: Session,
    shop: Shop,
    make_promoter: Callable[..., MadePromoter],
    make_click: Callable[..., str],
) -> None:
    upline = make_promoter("上级", 1)
    promoter = make_promoter("推手", 2, inviter=upline)
    click = make_click(promoter.id, shop.product_id)
    order = service.place_order(session, h5_draft(shop.product_id, 1, click_token=click))
    session.commit()
    rows = session.scalars(
        select(Commission).where(Commission.order_line_id == order.lines[0].id)
    ).all()
    # JD's vector: 54.00 × 5% × 90% = 2.43 for L1; L2 = 10% of L1, paid from the take.
    assert sorted((row.level, row.promoter_id, row.amount_fen) for row in rows) == [
        (1, promoter.id, 243),
        (2, upline.id, 24),
    ]


def test_cancel_invalidates_the_commission(
    session: Session,
    shop: Shop,
    make_promoter: Callable[..., MadePromoter],
    make_click: Callable[..., str],
) -> None:
    promoter = make_promoter("推手", 2)
    click = make_click(promoter.id, shop.product_id)
    order = service.place_order(session, h5_draft(shop.product_id, 1, click_token=click))
    session.commit()
    service.cancel_order(session, None, order.id)
    session.commit()
    [row] = session.scalars(select(Commission)).all()
    assert row.state.value == "invalid"
