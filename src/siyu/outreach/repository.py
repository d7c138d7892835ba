"""Every query of the outreach domain: the set-based planner, the queue claim, quota and pace
reservations, results.

The planner never loops over recipients in Python. For a broadcast it (1) writes one
``broadcast_batch`` row per usable account with the pacing parameters the rules computed,
(2) counts the audience by reason in one aggregate query, and (3) writes the send rows with one
``INSERT … SELECT``: reason filter, one row per person (``ROW_NUMBER`` over the consumer), the
slot within the account (``ROW_NUMBER`` over the account) and the due time computed from the
slot in integer arithmetic, exactly as ``rules.due_epoch`` does.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.models import (
    AccountStatus,
    Click,
    Consumer,
    Contact,
    ContactState,
    GroupStatus,
    OperatorAccount,
    Order,
    OrderLine,
    OrderStatus,
    WechatGroup,
)
from siyu.models.outreach import (
    AccountPace,
    Broadcast,
    BroadcastBatch,
    BroadcastSend,
    BroadcastStatus,
    OutreachQuota,
    SendStatus,
)
from siyu.outreach import rules

CONSUMER = "consumer"
SQLITE_PLAN_CACHE_KIB = 256 * 1024
CONTACT = "contact"


@dataclass(frozen=True)
class QuotaCaps:
    day: date
    week: date
    month: date
    day_cap: int
    week_cap: int
    month_cap: int
    member_cap: int


class BroadcastRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- broadcasts -------------------------------------------------------------------------

    def add(self, broadcast: Broadcast) -> Broadcast:
        self.session.add(broadcast)
        self.session.flush()
        return broadcast

    def get(self, broadcast_id: int) -> Broadcast | None:
        return self.session.get(Broadcast, broadcast_id)

    def get_for_update(self, broadcast_id: int) -> Broadcast | None:
        return self.session.scalar(
            select(Broadcast).where(Broadcast.id == broadcast_id).with_for_update()
        )

    def list(
        self, only_owner: bool, owner_promoter_id: int | None, limit: int
    ) -> Sequence[Broadcast]:
        query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
        if only_owner:
            query = query.where(Broadcast.owner_promoter_id == owner_promoter_id)
        return self.session.scalars(query).all()

    # --- planning ---------------------------------------------------------------------------

    def usable_accounts(self, owner_promoter_id: int | None) -> Sequence[Any]:
        """Active accounts of the broadcast's owner (None = the platform's own)."""
        owner = (
            OperatorAccount.owner_promoter_id.is_(None)
            if owner_promoter_id is None
            else OperatorAccount.owner_promoter_id == owner_promoter_id
        )
        query = select(
            OperatorAccount.id,
            OperatorAccount.working_from_minute,
            OperatorAccount.working_until_minute,
        ).where(
            OperatorAccount.status == AccountStatus.ACTIVE,
            OperatorAccount.deleted_at.is_(None),
            owner,
        )
        return self.session.execute(query.order_by(OperatorAccount.id)).all()

    def clear_plan(self, broadcast_id: int) -> None:
        self.session.execute(
            delete(BroadcastSend).where(BroadcastSend.broadcast_id == broadcast_id)
        )
        self.session.execute(
            delete(BroadcastBatch).where(BroadcastBatch.broadcast_id == broadcast_id)
        )

    def due_range(self, broadcast_id: int) -> tuple[datetime | None, datetime | None]:
        row = self.session.execute(
            select(func.min(BroadcastSend.due_at), func.max(BroadcastSend.due_at)).where(
                BroadcastSend.broadcast_id == broadcast_id,
                BroadcastSend.status == SendStatus.QUEUED,
            )
        ).one()
        return _aware(row[0]), _aware(row[1])

    def count_audience(self, where: ColumnElement[bool], groups: bool) -> tuple[int, int]:
        if groups:
            row = self.session.execute(
                select(
                    func.count(),
                    func.count(case((WechatGroup.status != GroupStatus.ARCHIVED, 1))),
                ).where(where)
            ).one()
        else:
            reachable = and_(
                Contact.state == ContactState.CONFIRMED, Contact.marketing_opt_out == false()
            )
            row = self.session.execute(
                select(func.count(), func.count(case((reachable, 1))))
                .select_from(Contact)
                .where(where)
            ).one()
        return int(row[0] or 0), int(row[1] or 0)

    def finish_done(self, now: datetime) -> int:
        queued = (
            select(BroadcastSend.id)
            .where(
                BroadcastSend.broadcast_id == Broadcast.id,
                BroadcastSend.status == SendStatus.QUEUED,
            )
            .exists()
        )
        result = self.session.execute(
            update(Broadcast)
            .where(Broadcast.status == BroadcastStatus.SCHEDULED, ~queued)
            .values(status=BroadcastStatus.DONE, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def add_batches(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(BroadcastBatch), list(rows))

    def contact_source(
        self,
        broadcast_id: int,
        audience: ColumnElement[bool],
        caps: QuotaCaps,
        requires_consent: bool,
    ) -> Select[Any]:
        """One row per audience contact with the first reason it cannot be sent ('ok' = can).

        Accounts and used-up quotas are small sets: each is one uncorrelated ``IN`` subquery
        (built once per statement), not a join probed per contact.
        """
        batch = BroadcastBatch
        q = OutreachQuota
        in_broadcast = batch.broadcast_id == broadcast_id
        usable = select(batch.account_id).where(in_broadcast)
        windowless = select(batch.account_id).where(in_broadcast, batch.has_window == false())

        def used_up(kind: str, *condition: ColumnElement[bool]) -> Select[Any]:
            return select(q.subject_id).where(q.subject_kind == kind, *condition)

        reason = case(
            (Contact.state != ContactState.CONFIRMED, literal("not_friend")),
            (Contact.marketing_opt_out == true(), literal("opted_out")),
            (
                and_(literal(requires_consent), Contact.consent == false()),
                literal("no_consent"),
            ),
            (Contact.account_id.not_in(usable), literal("account_unavailable")),
            (Contact.account_id.in_(windowless), literal("no_send_window")),
            (
                Contact.consumer_id.in_(
                    used_up(CONSUMER, q.day_on == caps.day, q.day_count >= caps.day_cap)
                ),
                literal("quota_day"),
            ),
            (
                Contact.consumer_id.in_(
                    used_up(CONSUMER, q.week_on == caps.week, q.week_count >= caps.week_cap)
                ),
                literal("quota_week"),
            ),
            (
                Contact.consumer_id.in_(
                    used_up(CONSUMER, q.month_on == caps.month, q.month_count >= caps.month_cap)
                ),
                literal("quota_month"),
            ),
            (
                Contact.id.in_(
                    used_up(CONTACT, q.day_on == caps.day, q.day_count >= caps.member_cap)
                ),
                literal("quota_member_day"),
            ),
            else_=literal("ok"),
        )
        return (
            select(
                Contact.id.label("contact_id"),
                Contact.consumer_id.label("consumer_id"),
                cast(null(), BigInteger).label("group_id"),
                Contact.account_id.label("account_id"),
                Contact.id.label("key_id"),
                reason.label("reason"),
            )
            .select_from(Contact)
            .where(audience)
        )

    def group_source(self, broadcast_id: int, audience: ColumnElement[bool]) -> Select[Any]:
        batch = BroadcastBatch
        reason = case(
            (WechatGroup.status == GroupStatus.ARCHIVED, literal("group_archived")),
            (batch.account_id.is_(None), literal("account_unavailable")),
            (batch.has_window == false(), literal("no_send_window")),
            else_=literal("ok"),
        )
        return (
            select(
                cast(null(), BigInteger).label("contact_id"),
                cast(null(), BigInteger).label("consumer_id"),
                WechatGroup.id.label("group_id"),
                WechatGroup.account_id.label("account_id"),
                WechatGroup.id.label("key_id"),
                reason.label("reason"),
            )
            .select_from(WechatGroup)
            .outerjoin(
                batch,
                and_(
                    batch.broadcast_id == broadcast_id, batch.account_id == WechatGroup.account_id
                ),
            )
            .where(audience)
        )

    def insert_sends(
        self, broadcast: Broadcast, source: Select[Any], per_person: bool, dialect: str
    ) -> None:
        """Every audience row of a broadcast, in one INSERT … SELECT: the sendable ones queued
        with their paced due time, the others skipped with the reason (so the plan's counts
        are one GROUP BY over the rows, and the results can list who was left out and why)."""
        sub = source.subquery("audience")
        ok = sub.c.reason == "ok"
        if per_person:
            # One row per person: their first sendable contact; other contacts of theirs are
            # duplicates (the not-ok ones keep their own reason).
            person_rank: ColumnElement[Any] = func.row_number().over(
                partition_by=sub.c.consumer_id,
                order_by=(case((ok, 0), else_=1), sub.c.contact_id),
            )
            final: ColumnElement[Any] = case(
                (~ok, sub.c.reason), (person_rank > 1, literal("duplicate_person")), else_="ok"
            )
        else:
            final = sub.c.reason
        people = select(
            sub.c.contact_id,
            sub.c.consumer_id,
            sub.c.group_id,
            sub.c.account_id,
            sub.c.key_id,
            final.label("reason"),
        ).subquery("people")
        sendable = case((people.c.reason == "ok", 0), else_=1)
        slotted = select(
            people,
            (
                func.row_number().over(
                    partition_by=(people.c.account_id, sendable), order_by=people.c.key_id
                )
                - 1
            ).label("slot"),
        ).subquery("slotted")
        batch = BroadcastBatch
        position = cast(slotted.c.slot, BigInteger) * batch.interval_ms + batch.offset0_ms
        positioned = (
            select(
                slotted,
                (position // batch.daily_ms).label("day"),
                (position % batch.daily_ms).label("rest"),
                batch.day0_epoch,
                batch.p0_start,
                batch.p1_start,
                batch.p2_start,
                batch.p3_start,
                batch.c1_ms,
                batch.c2_ms,
                batch.c3_ms,
            )
            .select_from(slotted)
            .outerjoin(
                batch,
                and_(batch.broadcast_id == broadcast.id, batch.account_id == slotted.c.account_id),
            )
            .subquery("positioned")
        )
        p = positioned.c
        within = case(
            (p.rest < p.c1_ms, p.p0_start + p.rest // 1000),
            (p.rest < p.c2_ms, p.p1_start + (p.rest - p.c1_ms) // 1000),
            (p.rest < p.c3_ms, p.p2_start + (p.rest - p.c2_ms) // 1000),
            else_=p.p3_start + (p.rest - p.c3_ms) // 1000,
        )
        jitter = (
            (p.key_id * rules.JITTER_KEY_FACTOR + broadcast.seed * rules.JITTER_SEED_FACTOR)
            % rules.JITTER_MODULUS
        ) % (broadcast.jitter_seconds + 1)
        start_epoch = int(broadcast.start_at.timestamp())
        epoch = case(
            (p.reason == "ok", p.day0_epoch + p.day * rules.SECONDS_PER_DAY + within + jitter),
            else_=start_epoch,
        )
        if dialect == "postgresql":
            due: ColumnElement[Any] = func.to_timestamp(epoch)
        else:
            # 'YYYY-MM-DD HH:MM:SS', which UTCDateTime reads back as the same instant.
            due = func.datetime(epoch, "unixepoch")
        over_limit = p.slot >= rules.MAX_RECIPIENTS_PER_TASK
        queued = and_(p.reason == "ok", ~over_limit)
        query = select(
            literal(broadcast.id, BigInteger),
            p.account_id,
            p.contact_id,
            p.consumer_id,
            p.group_id,
            p.slot,
            due,
            case((queued, literal(SendStatus.QUEUED.value)), else_=SendStatus.SKIPPED.value),
            case(
                (queued, literal("")),
                (p.reason == "ok", literal("task_limit")),
                else_=p.reason,
            ),
            literal(0, Integer),
        )
        connection = self.session.connection()
        previous: Any = None
        if dialect == "sqlite":
            # The two ROW_NUMBER sorts of a large audience spill to temporary files at SQLite's
            # default 2 MB page cache; give this statement room (restored below).
            previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
            connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_PLAN_CACHE_KIB}")
        connection.execute(
            insert(typing.cast(Table, BroadcastSend.__table__)).from_select(
                [
                    "broadcast_id",
                    "account_id",
                    "contact_id",
                    "consumer_id",
                    "group_id",
                    "slot",
                    "due_at",
                    "status",
                    "reason",
                    "attempts",
                ],
                query,
            )
        )
        if dialect == "sqlite":
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous or -2000)}")

    def plan_counts(self, broadcast_id: int) -> dict[tuple[int, str, str], int]:
        """(account, status, reason) → rows, right after planning."""
        rows = self.session.execute(
            select(
                BroadcastSend.account_id, BroadcastSend.status, BroadcastSend.reason, func.count()
            )
            .where(BroadcastSend.broadcast_id == broadcast_id)
            .group_by(BroadcastSend.account_id, BroadcastSend.status, BroadcastSend.reason)
        ).all()
        return {
            (int(account), str(status), str(reason)): int(count)
            for account, status, reason, count in rows
        }

    def batches(self, broadcast_id: int) -> Sequence[BroadcastBatch]:
        return self.session.scalars(
            select(BroadcastBatch)
            .where(BroadcastBatch.broadcast_id == broadcast_id)
            .order_by(BroadcastBatch.account_id)
        ).all()

    def drop_empty_batches(self, broadcast_id: int) -> None:
        self.session.execute(
            delete(BroadcastBatch).where(
                BroadcastBatch.broadcast_id == broadcast_id, BroadcastBatch.planned == 0
            )
        )

    # --- the queue --------------------------------------------------------------------------

    def claim_due(self, now: datetime, dialect: str, broadcast_id: int | None) -> int | None:
        """Lock one due queued row (PostgreSQL: skipping rows other workers hold)."""
        # Only rows of broadcasts that are sending; a draft's or cancelled broadcast's wait.
        sending = (
            select(Broadcast.id)
            .where(
                Broadcast.id == BroadcastSend.broadcast_id,
                Broadcast.status == BroadcastStatus.SCHEDULED,
            )
            .exists()
        )
        due = (
            select(BroadcastSend.id)
            .where(BroadcastSend.status == SendStatus.QUEUED, BroadcastSend.due_at <= now, sending)
            .order_by(BroadcastSend.due_at, BroadcastSend.id)
            .limit(1)
        )
        if broadcast_id is not None:
            due = due.where(BroadcastSend.broadcast_id == broadcast_id)
        if dialect == "postgresql":
            found = self.session.scalar(due.with_for_update(skip_locked=True, of=BroadcastSend))
            return int(found) if found is not None else None
        # SQLite: transactions begin IMMEDIATE (one writer at a time), so a conditional UPDATE
        # of the chosen row is the claim; its status changes in this same transaction.
        claimed = self.session.scalar(
            update(BroadcastSend)
            .where(
                BroadcastSend.id == due.scalar_subquery(),
                BroadcastSend.status == SendStatus.QUEUED,
            )
            .values(attempts=BroadcastSend.attempts)
            .returning(BroadcastSend.id)
        )
        return int(claimed) if claimed is not None else None

    def due_ahead(self, row: BroadcastSend) -> int:
        """Queued rows of the same broadcast and account planned before this one."""
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(BroadcastSend)
                .where(
                    BroadcastSend.broadcast_id == row.broadcast_id,
                    BroadcastSend.account_id == row.account_id,
                    BroadcastSend.status == SendStatus.QUEUED,
                    BroadcastSend.slot < row.slot,
                    BroadcastSend.id != row.id,
                )
            )
            or 0
        )

    def next_due(self, broadcast_id: int | None) -> datetime | None:
        sending = (
            select(Broadcast.id)
            .where(
                Broadcast.id == BroadcastSend.broadcast_id,
                Broadcast.status == BroadcastStatus.SCHEDULED,
            )
            .exists()
        )
        query = select(func.min(BroadcastSend.due_at)).where(
            BroadcastSend.status == SendStatus.QUEUED, sending
        )
        if broadcast_id is not None:
            query = query.where(BroadcastSend.broadcast_id == broadcast_id)
        return _aware(self.session.scalar(query))

    def send_row(self, send_id: int) -> BroadcastSend | None:
        return self.session.get(BroadcastSend, send_id)

    def cancel_queued(self, broadcast_id: int) -> int:
        result = self.session.execute(
            update(BroadcastSend)
            .where(
                BroadcastSend.broadcast_id == broadcast_id,
                BroadcastSend.status == SendStatus.QUEUED,
            )
            .values(status=SendStatus.CANCELLED, reason="broadcast_cancelled")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def requeue_failed(self, broadcast_id: int, now: datetime) -> int:
        result = self.session.execute(
            update(BroadcastSend)
            .where(
                BroadcastSend.broadcast_id == broadcast_id,
                BroadcastSend.status == SendStatus.FAILED,
            )
            .values(status=SendStatus.QUEUED, due_at=now, reason="retry")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def queued_left(self, broadcast_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(BroadcastSend)
                .where(
                    BroadcastSend.broadcast_id == broadcast_id,
                    BroadcastSend.status == SendStatus.QUEUED,
                )
            )
            or 0
        )

    # --- quotas and pace --------------------------------------------------------------------

    def ensure_quota_rows(self, consumer_id: int, contact_id: int) -> None:
        for kind, subject in ((CONSUMER, consumer_id), (CONTACT, contact_id)):
            _insert_ignore(
                self.session,
                OutreachQuota,
                {
                    "subject_kind": kind,
                    "subject_id": subject,
                    "day_count": 0,
                    "week_count": 0,
                    "month_count": 0,
                },
            )

    def take_quota(self, kind: str, subject_id: int, caps: QuotaCaps, day_cap: int) -> bool:
        """One unit of this person's day/week/month counters, only if every cap allows it;
        a counter whose window has passed restarts at 1 in the same statement."""
        q = OutreachQuota
        result = self.session.execute(
            update(q)
            .where(
                q.subject_kind == kind,
                q.subject_id == subject_id,
                or_(q.day_on.is_(None), q.day_on != caps.day, q.day_count < day_cap),
                or_(q.week_on.is_(None), q.week_on != caps.week, q.week_count < caps.week_cap),
                or_(q.month_on.is_(None), q.month_on != caps.month, q.month_count < caps.month_cap),
            )
            .values(
                day_count=case((q.day_on == caps.day, q.day_count + 1), else_=1),
                day_on=caps.day,
                week_count=case((q.week_on == caps.week, q.week_count + 1), else_=1),
                week_on=caps.week,
                month_count=case((q.month_on == caps.month, q.month_count + 1), else_=1),
                month_on=caps.month,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def quota_row(self, kind: str, subject_id: int) -> OutreachQuota | None:
        return self.session.scalar(
            select(OutreachQuota)
            .where(OutreachQuota.subject_kind == kind, OutreachQuota.subject_id == subject_id)
            .execution_options(populate_existing=True)
        )

    def take_pace(self, account_id: int, now: datetime, next_at: datetime) -> bool:
        """The account's next send slot, only if its previous send is at least one interval ago."""
        _insert_ignore(self.session, AccountPace, {"account_id": account_id, "next_at": now})
        result = self.session.execute(
            update(AccountPace)
            .where(AccountPace.account_id == account_id, AccountPace.next_at <= now)
            .values(next_at=next_at)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def pace_next_at(self, account_id: int) -> datetime | None:
        return self.session.scalar(
            select(AccountPace.next_at).where(AccountPace.account_id == account_id)
        )

    # --- results ----------------------------------------------------------------------------

    def status_counts(self, broadcast_id: int) -> dict[tuple[str, str], int]:
        rows = self.session.execute(
            select(BroadcastSend.status, BroadcastSend.reason, func.count())
            .where(BroadcastSend.broadcast_id == broadcast_id)
            .group_by(BroadcastSend.status, BroadcastSend.reason)
        ).all()
        return {(str(status), str(reason)): int(count) for status, reason, count in rows}

    def clicks(self, link_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(Click).where(Click.link_id == link_id)
            )
            or 0
        )

    def orders(self, link_id: int) -> tuple[int, int]:
        """(orders, GMV in fen) of lines attributed to the link, cancelled orders excluded."""
        row = self.session.execute(
            select(
                func.count(func.distinct(OrderLine.order_id)),
                func.coalesce(func.sum(OrderLine.paid_fen - OrderLine.refunded_fen), 0),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.link_id == link_id, Order.status != OrderStatus.CANCELLED)
        ).one()
        return int(row[0] or 0), int(row[1] or 0)

    def recipients(
        self, broadcast_id: int, limit: int, offset: int
    ) -> Sequence[tuple[BroadcastSend, str | None]]:
        rows = self.session.execute(
            select(BroadcastSend, Consumer.nickname)
            .outerjoin(Consumer, Consumer.id == BroadcastSend.consumer_id)
            .where(BroadcastSend.broadcast_id == broadcast_id)
            .order_by(BroadcastSend.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return [(row[0], row[1]) for row in rows]

    def nickname(self, consumer_id: int) -> str:
        return str(
            self.session.scalar(select(Consumer.nickname).where(Consumer.id == consumer_id)) or ""
        )

    def contact(self, contact_id: int) -> Contact | None:
        return self.session.get(Contact, contact_id)

    def group(self, group_id: int) -> WechatGroup | None:
        return self.session.get(WechatGroup, group_id)

    def account(self, account_id: int) -> OperatorAccount | None:
        return self.session.get(OperatorAccount, account_id)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _insert_ignore(session: Session, model: type[Any], values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either database (the row may exist already)."""
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql_insert(model).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite_insert(model).values(**values).on_conflict_do_nothing()
    session.execute(statement)
