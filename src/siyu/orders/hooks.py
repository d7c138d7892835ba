"""Extension points of orders for other domains (campaigns' first-purchase invites). Handlers run
inside the order's transaction, must not commit, and must be idempotent.

    from siyu.orders import hooks
    hooks.register_order_paid(handler)   # (session, order, first_purchase) -> None
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from siyu.models import Order

OrderPaidHandler = Callable[[Session, Order, bool], None]

_paid: list[OrderPaidHandler] = []


def register_order_paid(handler: OrderPaidHandler) -> None:
    if handler not in _paid:
        _paid.append(handler)


def on_order_paid(session: Session, order: Order, first_purchase: bool) -> None:
    """A paid order was recorded; ``first_purchase``: the buyer had no order before it."""
    for handler in list(_paid):
        handler(session, order, first_purchase)
