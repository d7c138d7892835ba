from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from siyu.models import Consumer, Order, Promoter


class ConsumerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_phone_index(self, phone_index: str) -> Consumer | None:
        return self.session.scalar(select(Consumer).where(Consumer.phone_index == phone_index))

    def by_union_id(self, union_id: str) -> Consumer | None:
        return self.session.scalar(select(Consumer).where(Consumer.union_id == union_id))

    def lock(self, consumer_id: int) -> Consumer | None:
        """Serialises one consumer's checkouts (coupon per-user limit, binding)."""
        return self.session.scalar(
            select(Consumer)
            .where(Consumer.id == consumer_id)
            .with_for_update(of=Consumer)
            .execution_options(populate_existing=True)
        )

    def add(self, consumer: Consumer) -> Consumer:
        self.session.add(consumer)
        self.session.flush()
        return consumer

    def has_orders(self, consumer_id: int) -> bool:
        return bool(self.session.scalar(select(exists().where(Order.consumer_id == consumer_id))))

    def promoter_id_for_phone_index(self, phone_index: str | None) -> int | None:
        if not phone_index:
            return None
        return self.session.scalar(select(Promoter.id).where(Promoter.phone_index == phone_index))
