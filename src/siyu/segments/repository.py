"""Segment SQL: a rule compiles to one WHERE clause over ``contact`` (SQLAlchemy Core).

Every condition is a column comparison on ``contact`` or an IN / EXISTS subquery that an index
answers: ``contact_tag (tag_id, contact_id)``, ``sales_order (consumer_id, status, paid_at,
paid_fen)``, ``channel_message (contact_id, sent_at)``, ``group_member (group_id, consumer_id)
WHERE left_at IS NULL``, and the region / lifecycle / activity indexes on ``contact`` declared in
``siyu.models.segments``. Counting and materialising are single statements: nothing is loaded
into Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from siyu.models import (
    Base,
    ChannelMessage,
    Consumer,
    Contact,
    ContactState,
    GroupMember,
    OperatorAccount,
    Order,
    OrderStatus,
    WechatGroup,
)
from siyu.models.segments import (
    ContactTag,
    Segment,
    SegmentSnapshot,
    SegmentSnapshotMember,
    Tag,
)
from siyu.regions.rules import CityTier, RegionLevel, level_of_code
from siyu.segments.schemas import (
    AccountCondition,
    ActivityCondition,
    AddedCondition,
    GroupCondition,
    LastOrderCondition,
    LifecycleCondition,
    OptOutCondition,
    RegionCondition,
    ReplyCondition,
    RuleGroup,
    SourceCondition,
    SpendCondition,
    StateCondition,
    TagCondition,
    TierCondition,
)

TierCodes = Callable[[Iterable[CityTier]], list[str]]


@dataclass(frozen=True)
class ContactScope:
    """Whose contacts a query may touch: one promoter's, the platform's (None), or everyone's."""

    owner_promoter_id: int | None
    all_owners: bool = False

    def clause(self) -> ColumnElement[bool]:
        if self.all_owners:
            return true()
        if self.owner_promoter_id is None:
            return Contact.owner_promoter_id.is_(None)
        return Contact.owner_promoter_id == self.owner_promoter_id


@dataclass(frozen=True)
class CompileContext:
    now: datetime
    tier_codes: TierCodes


def reachable_clause() -> ColumnElement[bool]:
    """Who a broadcast may go to: confirmed friends who have not opted out."""
    return and_(Contact.state == ContactState.CONFIRMED, Contact.marketing_opt_out.is_(False))


def compile_rule(rule: RuleGroup, context: CompileContext) -> ColumnElement[bool]:
    parts = [
        compile_rule(item, context) if isinstance(item, RuleGroup) else _condition(item, context)
        for item in rule.conditions
    ]
    if not parts:
        return true()
    if len(parts) == 1:
        return parts[0]
    return and_(*parts) if rule.op == "and" else or_(*parts)


def _condition(item: Any, context: CompileContext) -> ColumnElement[bool]:
    compiler = _COMPILERS[type(item)]
    return compiler(item, context)


def _tag(item: TagCondition, _context: CompileContext) -> ColumnElement[bool]:
    def tagged(tag_ids: Sequence[int]) -> ColumnElement[bool]:
        return Contact.id.in_(select(ContactTag.contact_id).where(ContactTag.tag_id.in_(tag_ids)))

    ids = sorted(set(item.tag_ids))
    if item.match == "any":
        return tagged(ids)
    if item.match == "all":
        return and_(*(tagged([tag_id]) for tag_id in ids))
    return ~exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag_id.in_(ids))


def _region(item: RegionCondition, _context: CompileContext) -> ColumnElement[bool]:
    columns = {
        RegionLevel.PROVINCE: Contact.province_code,
        RegionLevel.CITY: Contact.city_code,
        RegionLevel.DISTRICT: Contact.district_code,
    }
    by_level: dict[RegionLevel, list[str]] = {}
    for code in item.codes:
        by_level.setdefault(level_of_code(code), []).append(code)
    clause = or_(*(columns[level].in_(codes) for level, codes in sorted(by_level.items())))
    return ~clause if item.negate else clause


def _tier(item: TierCondition, context: CompileContext) -> ColumnElement[bool]:
    """The finest code a contact gave decides: its district (六线 for a county), else its city,
    else a municipality's province code."""
    codes = context.tier_codes(item.tiers)
    districts = [code for code in codes if level_of_code(code) == RegionLevel.DISTRICT]
    cities = [code for code in codes if level_of_code(code) == RegionLevel.CITY]
    provinces = [code for code in codes if level_of_code(code) == RegionLevel.PROVINCE]
    parts: list[ColumnElement[bool]] = []
    if districts:
        parts.append(Contact.district_code.in_(_inline(districts)))
    if cities:
        parts.append(and_(Contact.district_code == "", Contact.city_code.in_(_inline(cities))))
    if provinces:
        parts.append(
            and_(
                Contact.district_code == "",
                Contact.city_code == "",
                Contact.province_code.in_(_inline(provinces)),
            )
        )
    return or_(*parts) if parts else false()


def _inline(codes: list[str]) -> Any:
    """Thousands of region codes rendered as literals (they are 6-digit codes from siyu's own
    data): one bound parameter per code makes PostgreSQL plan an ARRAY of 2,000 parameters on
    every execution, several times slower than the constant list."""
    return bindparam(None, codes, expanding=True, literal_execute=True)


def _lifecycle(item: LifecycleCondition, _context: CompileContext) -> ColumnElement[bool]:
    return Contact.lifecycle_stage.in_(sorted(set(item.stages)))


def _source(item: SourceCondition, _context: CompileContext) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = Contact.source_kind.in_(sorted(set(item.source_kinds)))
    if item.source_ids:
        clause = and_(clause, Contact.source_id.in_(sorted(set(item.source_ids))))
    return clause


def _state(item: StateCondition, _context: CompileContext) -> ColumnElement[bool]:
    return Contact.state.in_(sorted(set(item.states)))


def _opt_out(item: OptOutCondition, _context: CompileContext) -> ColumnElement[bool]:
    return Contact.marketing_opt_out.is_(item.opted_out)


def _orders_of_contact(*conditions: ColumnElement[bool]) -> Exists:
    """EXISTS over the contact's consumer's paid, not cancelled orders: one probe of
    ``ix_sales_order_consumer_id_status_paid`` per candidate row, whatever plan is chosen."""
    return exists().where(
        Order.consumer_id == Contact.consumer_id, Order.status != OrderStatus.CANCELLED, *conditions
    )


def _last_order(item: LastOrderCondition, context: CompileContext) -> ColumnElement[bool]:
    if item.op == "ever":
        return _orders_of_contact()
    if item.op == "never":
        return ~_orders_of_contact()
    assert item.days is not None
    recent = _orders_of_contact(Order.paid_at >= context.now - timedelta(days=item.days))
    if item.op == "within":
        return recent
    return and_(_orders_of_contact(), ~recent)


def _spend(item: SpendCondition, context: CompileContext) -> ColumnElement[bool]:
    """A correlated sum per candidate row (index-only), 0 for a consumer without orders."""
    conditions: list[ColumnElement[bool]] = [
        Order.consumer_id == Contact.consumer_id,
        Order.status != OrderStatus.CANCELLED,
    ]
    if item.within_days is not None:
        conditions.append(Order.paid_at >= context.now - timedelta(days=item.within_days))
    total = (
        select(func.coalesce(func.sum(Order.paid_fen), 0))
        .where(*conditions)
        .correlate(Contact)
        .scalar_subquery()
    )
    parts: list[ColumnElement[bool]] = []
    if item.min_fen is not None and item.min_fen > 0:
        parts.append(total >= item.min_fen)
    if item.max_fen is not None:
        parts.append(total <= item.max_fen)
    return and_(*parts) if parts else true()


def _activity(item: ActivityCondition, context: CompileContext) -> ColumnElement[bool]:
    cutoff = context.now - timedelta(days=item.days)
    if item.op == "active_within":
        return Contact.last_message_at >= cutoff
    return or_(Contact.last_message_at.is_(None), Contact.last_message_at < cutoff)


def _reply(item: ReplyCondition, _context: CompileContext) -> ColumnElement[bool]:
    replied = exists().where(
        ChannelMessage.contact_id == Contact.id,
        ChannelMessage.direction == "in",
        ChannelMessage.sent_at >= item.since,
        ChannelMessage.sent_at < item.since + timedelta(hours=item.within_hours),
    )
    return replied if item.replied else ~replied


def _added(item: AddedCondition, _context: CompileContext) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if item.after is not None:
        parts.append(Contact.added_at >= item.after)
    if item.before is not None:
        parts.append(Contact.added_at < item.before)
    return and_(*parts)


def _account(item: AccountCondition, _context: CompileContext) -> ColumnElement[bool]:
    return Contact.account_id.in_(sorted(set(item.account_ids)))


def _group(item: GroupCondition, _context: CompileContext) -> ColumnElement[bool]:
    members = select(GroupMember.consumer_id).where(
        GroupMember.group_id.in_(sorted(set(item.group_ids))), GroupMember.left_at.is_(None)
    )
    return Contact.consumer_id.in_(members) if item.member else Contact.consumer_id.not_in(members)


_COMPILERS: dict[type, Callable[[Any, CompileContext], ColumnElement[bool]]] = {
    TagCondition: _tag,
    RegionCondition: _region,
    TierCondition: _tier,
    LifecycleCondition: _lifecycle,
    SourceCondition: _source,
    StateCondition: _state,
    OptOutCondition: _opt_out,
    LastOrderCondition: _last_order,
    SpendCondition: _spend,
    ActivityCondition: _activity,
    ReplyCondition: _reply,
    AddedCondition: _added,
    AccountCondition: _account,
    GroupCondition: _group,
}


# --- statements ---------------------------------------------------------------------------------


def count_statement(where: ColumnElement[bool]) -> Select[Any]:
    return select(func.count()).select_from(Contact).where(where)


class SegmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def count(self, where: ColumnElement[bool]) -> int:
        return int(self.session.scalar(count_statement(where)) or 0)

    def count_with_reachable(self, where: ColumnElement[bool]) -> tuple[int, int]:
        """Both counts in one scan: matching contacts, and those a broadcast may reach."""
        reachable = func.coalesce(func.sum(case((reachable_clause(), 1), else_=0)), 0)
        statement = select(func.count(), reachable).select_from(Contact).where(where)
        row = self.session.execute(statement).one()
        return int(row[0] or 0), int(row[1] or 0)

    def materialise(self, snapshot_id: int, where: ColumnElement[bool]) -> int:
        """INSERT … SELECT the reachable matching contacts into the snapshot."""
        source = select(literal(snapshot_id), Contact.id).where(where, reachable_clause())
        table = Table("segment_snapshot_member", Base.metadata)
        result = self.session.execute(
            insert(table).from_select(["snapshot_id", "contact_id"], source)
        )
        inserted = int(getattr(result, "rowcount", -1))
        if inserted >= 0:
            return inserted
        # psycopg under SQLAlchemy 2.1 reports -1 for INSERT … SELECT: count the primary key.
        members = select(func.count()).where(SegmentSnapshotMember.snapshot_id == snapshot_id)
        return int(self.session.scalar(members) or 0)

    def contact_ids(self, where: ColumnElement[bool], limit: int) -> Sequence[int]:
        statement = select(Contact.id).where(where).order_by(Contact.id).limit(limit)
        return self.session.scalars(statement).all()

    def export_rows(self, where: ColumnElement[bool], limit: int) -> Sequence[Any]:
        statement = (
            select(Contact, Consumer, OperatorAccount.name)
            .join(Consumer, Consumer.id == Contact.consumer_id)
            .join(OperatorAccount, OperatorAccount.id == Contact.account_id)
            .where(where)
            .order_by(Contact.id)
            .limit(limit)
        )
        return self.session.execute(statement).all()

    def tag_names_of(self, contact_ids: Sequence[int]) -> dict[int, list[str]]:
        names: dict[int, list[str]] = {}
        if not contact_ids:
            return names
        statement = (
            select(ContactTag.contact_id, Tag.name)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id.in_(contact_ids))
            .order_by(ContactTag.contact_id, Tag.name)
        )
        for contact_id, name in self.session.execute(statement).all():
            names.setdefault(contact_id, []).append(name)
        return names

    # --- segments and snapshots -----------------------------------------------------------------

    def get(self, segment_id: int) -> Segment | None:
        return self.session.get(Segment, segment_id)

    def add(self, segment: Segment) -> Segment:
        self.session.add(segment)
        self.session.flush()
        return segment

    def visible(self, owner_promoter_id: int | None, everyone: bool) -> Sequence[Segment]:
        statement = select(Segment).where(Segment.archived_at.is_(None))
        if not everyone:
            statement = statement.where(
                Segment.owner_promoter_id.is_(None)
                if owner_promoter_id is None
                else Segment.owner_promoter_id == owner_promoter_id
            )
        return self.session.scalars(statement.order_by(Segment.id.desc())).all()

    def add_snapshot(self, snapshot: SegmentSnapshot) -> SegmentSnapshot:
        self.session.add(snapshot)
        self.session.flush()
        return snapshot

    def snapshot_members(self, snapshot_id: int) -> Sequence[int]:
        statement = (
            select(SegmentSnapshotMember.contact_id)
            .where(SegmentSnapshotMember.snapshot_id == snapshot_id)
            .order_by(SegmentSnapshotMember.contact_id)
        )
        return self.session.scalars(statement).all()

    # --- ownership checks of referenced objects ---------------------------------------------------

    def foreign_tag_ids(self, tag_ids: set[int], scope: ContactScope) -> set[int]:
        """The ids among ``tag_ids`` that do not exist or belong to someone else."""
        return tag_ids - self._owned(Tag.id, Tag.owner_promoter_id, tag_ids, scope)

    def foreign_account_ids(self, account_ids: set[int], scope: ContactScope) -> set[int]:
        owned = self._owned(
            OperatorAccount.id, OperatorAccount.owner_promoter_id, account_ids, scope
        )
        return account_ids - owned

    def foreign_group_ids(self, group_ids: set[int], scope: ContactScope) -> set[int]:
        return group_ids - self._owned(
            WechatGroup.id, WechatGroup.owner_promoter_id, group_ids, scope
        )

    def _owned(
        self, id_column: Any, owner_column: Any, ids: set[int], scope: ContactScope
    ) -> set[int]:
        if not ids:
            return set()
        statement = select(id_column).where(id_column.in_(sorted(ids)))
        if not scope.all_owners:
            statement = statement.where(
                owner_column.is_(None)
                if scope.owner_promoter_id is None
                else owner_column == scope.owner_promoter_id
            )
        return set(self.session.scalars(statement).all())
