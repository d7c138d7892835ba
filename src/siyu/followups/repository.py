"""Queries for follow-ups: trigger detection (set-based) and the send queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.models import (
    Click,
    Consumer,
    Contact,
    ContactState,
    GroupMember,
    Order,
    OrderStatus,
    WechatGroup,
)
from siyu.models.followups import Followup, FollowupRule, FollowupStatus

LOOKBACK = timedelta(days=7)  # a trigger older than delay + this is not followed up any more


class FollowupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- rules -----------------------------------------------------------------------------

    def add_rule(self, rule: FollowupRule) -> FollowupRule:
        self.session.add(rule)
        self.session.flush()
        return rule

    def rule(self, rule_id: int) -> FollowupRule | None:
        return self.session.get(FollowupRule, rule_id)

    def rules(self, active_only: bool = False) -> Sequence[FollowupRule]:
        query = select(FollowupRule).order_by(FollowupRule.id)
        if active_only:
            query = query.where(FollowupRule.is_active.is_(True))
        return self.session.scalars(query).all()

    # --- triggers: (consumer_id, trigger_key) ------------------------------------------------

    def clicked_without_order(self, delay: timedelta, now: datetime, limit: int) -> list[Any]:
        """Consumers who clicked a link ``delay`` ago (up to LOOKBACK before) and have not
        ordered since their first such click; one trigger per consumer and click day."""
        newest = now - delay
        oldest = newest - LOOKBACK
        first_click = func.min(Click.clicked_at).label("clicked_at")
        clicks = (
            select(Click.consumer_id, first_click)
            .where(
                Click.consumer_id.is_not(None),
                Click.clicked_at <= newest,
                Click.clicked_at > oldest,
            )
            .group_by(Click.consumer_id)
            .subquery()
        )
        ordered = exists().where(
            Order.consumer_id == clicks.c.consumer_id, Order.paid_at >= clicks.c.clicked_at
        )
        rows = self.session.execute(
            select(clicks.c.consumer_id, clicks.c.clicked_at)
            .where(~ordered)
            .order_by(clicks.c.consumer_id)
            .limit(limit)
        ).all()
        return [(row.consumer_id, f"click:{row.clicked_at:%Y%m%d}") for row in rows]

    def first_orders_received(self, delay: timedelta, now: datetime, limit: int) -> list[Any]:
        newest = now - delay
        previous = Order.__table__.alias("previous")
        had_before = exists().where(
            previous.c.consumer_id == Order.consumer_id,
            previous.c.paid_at < Order.paid_at,
            previous.c.status != OrderStatus.CANCELLED.value,
        )
        rows = self.session.execute(
            select(Order.consumer_id, Order.id)
            .where(
                Order.received_at.is_not(None),
                Order.received_at <= newest,
                Order.received_at > newest - LOOKBACK,
                Order.status == OrderStatus.RECEIVED,
                ~had_before,
            )
            .order_by(Order.id)
            .limit(limit)
        ).all()
        return [(row.consumer_id, f"order:{row.id}") for row in rows]

    def inactive_contacts(self, delay: timedelta, now: datetime, limit: int) -> list[Any]:
        """Platform contacts silent for ``delay`` (no message since, no order since); one
        trigger per silence (the key holds the last activity's day)."""
        newest = now - delay
        last = func.coalesce(Contact.last_message_at, Contact.confirmed_at)
        ordered = exists().where(Order.consumer_id == Contact.consumer_id, Order.paid_at > newest)
        rows = self.session.execute(
            select(Contact.consumer_id, last.label("last_at"))
            .where(
                Contact.owner_promoter_id.is_(None),
                Contact.state == ContactState.CONFIRMED,
                Contact.marketing_opt_out.is_(False),
                last <= newest,
                ~ordered,
            )
            .order_by(Contact.id)
            .limit(limit)
        ).all()
        return [(row.consumer_id, f"inactive:{row.last_at:%Y%m%d}") for row in rows]

    def vip_consumers(
        self, min_orders: int, min_spend_fen: int, group_code_id: int | None, limit: int
    ) -> list[Any]:
        spent = func.coalesce(func.sum(Order.paid_fen), 0)
        count = func.count(Order.id)
        condition = count >= min_orders
        if min_spend_fen > 0:
            condition = or_(condition, spent >= min_spend_fen)
        query = (
            select(Order.consumer_id)
            .where(Order.status != OrderStatus.CANCELLED)
            .group_by(Order.consumer_id)
            .having(condition)
        )
        if group_code_id is not None:
            member = exists().where(
                GroupMember.group_id == WechatGroup.id,
                WechatGroup.group_code_id == group_code_id,
                GroupMember.consumer_id == Order.consumer_id,
                GroupMember.left_at.is_(None),
            )
            query = query.where(~member)
        rows = self.session.execute(query.order_by(Order.consumer_id).limit(limit)).all()
        return [(row.consumer_id, f"vip:{row.consumer_id}") for row in rows]

    def best_contacts(self, consumer_ids: Sequence[int]) -> dict[int, Contact]:
        """Each consumer's platform contact to follow up through: confirmed, not opted out, the
        most recently in touch."""
        if not consumer_ids:
            return {}
        contacts = self.session.scalars(
            select(Contact)
            .where(
                Contact.consumer_id.in_(consumer_ids),
                Contact.owner_promoter_id.is_(None),
                Contact.state == ContactState.CONFIRMED,
                Contact.marketing_opt_out.is_(False),
            )
            .order_by(Contact.consumer_id, Contact.last_message_at.desc().nulls_last(), Contact.id)
        ).all()
        best: dict[int, Contact] = {}
        for contact in contacts:
            best.setdefault(contact.consumer_id, contact)
        return best

    def insert_followups(self, rows: list[dict[str, Any]]) -> int:
        """Insert, skipping triggers already followed up (UNIQUE rule, key). Returns new rows."""
        if not rows:
            return 0
        dialect = self.session.get_bind().dialect.name
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            maker(Followup)
            .on_conflict_do_nothing(index_elements=["rule_id", "trigger_key"])
            .returning(Followup.id)
        )
        return len(self.session.execute(statement, rows).all())

    # --- the queue --------------------------------------------------------------------------

    def due(self, now: datetime, limit: int) -> list[int]:
        return list(
            self.session.scalars(
                select(Followup.id)
                .where(Followup.status == FollowupStatus.PLANNED, Followup.due_at <= now)
                .order_by(Followup.due_at, Followup.id)
                .limit(limit)
            )
        )

    def claim(self, followup_id: int) -> Followup | None:
        """Take one planned row for this transaction (a second worker gets None)."""
        row = self.session.get(Followup, followup_id)
        if row is None or row.status != FollowupStatus.PLANNED:
            return None
        result = self.session.execute(
            update(Followup)
            .where(
                and_(
                    Followup.id == followup_id,
                    Followup.status == FollowupStatus.PLANNED,
                    Followup.attempts == row.attempts,
                )
            )
            .values(attempts=Followup.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        self.session.refresh(row)
        return row

    def recent(self, limit: int) -> Sequence[Followup]:
        return self.session.scalars(
            select(Followup).order_by(Followup.id.desc()).limit(limit)
        ).all()

    def counts_by_rule(self) -> dict[int, dict[str, int]]:
        rows = self.session.execute(
            select(Followup.rule_id, Followup.status, func.count()).group_by(
                Followup.rule_id, Followup.status
            )
        ).all()
        counts: dict[int, dict[str, int]] = {}
        for rule_id, status, count in rows:
            counts.setdefault(int(rule_id), {})[status.value] = int(count)
        return counts

    def nickname(self, consumer_id: int) -> str:
        return str(
            self.session.scalar(select(Consumer.nickname).where(Consumer.id == consumer_id)) or ""
        )
