from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, select, text
from sqlalchemy.orm import Session

from siyu.kit.time import utc_now
from siyu.models import Consumer, Order, Promoter
from siyu.models.base import UTCDateTime

_ID_BY_PHONE = text("SELECT id FROM consumer WHERE phone_index = :phone_index")
_ID_BY_UNION = text("SELECT id FROM consumer WHERE union_id = :union_id")
_INSERT_IGNORING = text(
    "INSERT INTO consumer (nickname, union_id, phone_encrypted, phone_index, created_at,"
    " updated_at) VALUES (:nickname, :union_id, :phone_encrypted, :phone_index, :created_at,"
    " :updated_at) ON CONFLICT DO NOTHING RETURNING id"
).bindparams(
    bindparam("created_at", type_=UTCDateTime()), bindparam("updated_at", type_=UTCDateTime())
)


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

    def id_by_identity(self, phone_index: str | None, union_id: str | None) -> int | None:
        if phone_index is not None:
            found = (
                self.session.connection()
                .execute(_ID_BY_PHONE, {"phone_index": phone_index})
                .scalar()
            )
            if found is not None:
                return int(found)
        if union_id is not None:
            found = self.session.connection().execute(_ID_BY_UNION, {"union_id": union_id}).scalar()
            if found is not None:
                return int(found)
        return None

    def insert_ignoring_conflict(self, **values: Any) -> int | None:
        """Insert a consumer; None when the phone index or union id is already taken.

        Plain SQL (the same on SQLite ≥ 3.35 and PostgreSQL): it is on the scan hot path."""
        now = utc_now()
        created = (
            self.session.connection()
            .execute(_INSERT_IGNORING, {**values, "created_at": now, "updated_at": now})
            .scalar()
        )
        return None if created is None else int(created)

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
