"""Every query of the pool. Capacity is only ever taken by the conditional UPDATEs here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.models import (
    AccountStatus,
    AssistedTask,
    AssistedTaskStatus,
    ChannelCode,
    ChannelEvent,
    ChannelScan,
    Contact,
    ContactState,
    GroupCode,
    GroupMember,
    GroupStatus,
    OperatorAccount,
    Persona,
    WechatGroup,
)
from siyu.models.base import UTCDateTime
from siyu.pool.rules import MAX_RECENT_FAILURES, AccountSnapshot, Rule

# How many candidates one scan reads when nothing needs the full list: the pre-filter in SQL
# applies the caps, so these are all eligible unless their health flags say otherwise.
CANDIDATE_WINDOW = 12

Account = OperatorAccount


def _paginate(session: Session, statement: Select[Any], page: PageRequest) -> Page[Any]:
    counted = statement.order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    items = session.scalars(statement.offset(page.offset).limit(page.size)).all()
    return Page(list(items), total, page)


def _today_adds(day: date) -> Any:
    return case((Account.adds_day == day, Account.passive_adds_today), else_=0)


def _today_active_adds(day: date) -> Any:
    return case((Account.adds_day == day, Account.active_adds_today), else_=0)


# The scan hot path runs as plain SQL (same text on SQLite ≥ 3.35 and PostgreSQL): statement
# construction and ORM bookkeeping cost more than the statements themselves there
# (bench/routing.py). Datetimes still go through UTCDateTime for the per-dialect storage.
_STAMP = UTCDateTime()
_CONTACT_COLUMNS = (
    "consumer_id",
    "account_id",
    "owner_promoter_id",
    "source_kind",
    "source_id",
    "referrer_promoter_id",
    "referrer_consumer_id",
    "state",
    "lifecycle_stage",
    "consent",
    "marketing_opt_out",
    "notes",
    "province_code",
    "city_code",
    "district_code",
    "added_at",
    "created_at",
    "updated_at",
)
_INSERT_CONTACT = text(
    f"INSERT INTO contact ({', '.join(_CONTACT_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in _CONTACT_COLUMNS)}) RETURNING id"
).bindparams(
    bindparam("added_at", type_=_STAMP),
    bindparam("created_at", type_=_STAMP),
    bindparam("updated_at", type_=_STAMP),
)
_SCAN_COLUMNS = (
    "code_id",
    "personal_code_id",
    "consumer_id",
    "state_raw",
    "state_valid",
    "referrer_promoter_id",
    "referrer_consumer_id",
    "outcome",
    "account_id",
    "contact_id",
    "candidates_count",
    "attempts",
    "reason",
    "scanned_at",
)
_INSERT_SCAN = text(
    f"INSERT INTO channel_scan ({', '.join(_SCAN_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in _SCAN_COLUMNS)}) RETURNING id"
).bindparams(bindparam("scanned_at", type_=_STAMP))
_RESERVE_SQL = """
UPDATE operator_account SET
  friends_used = friends_used + 1,
  passive_adds_today = CASE WHEN adds_day = :day THEN passive_adds_today ELSE 0 END + {passive},
  active_adds_today = CASE WHEN adds_day = :day THEN active_adds_today ELSE 0 END + {active},
  adds_day = :day,
  updated_at = :now
WHERE id = :account_id AND deleted_at IS NULL AND status = 'active'
  AND friends_used < max_friends
  AND CASE WHEN adds_day = :day THEN {counter} ELSE 0 END < {cap}
"""
_RESERVE_PASSIVE = text(
    _RESERVE_SQL.format(
        passive=1, active=0, counter="passive_adds_today", cap="passive_adds_per_day"
    )
).bindparams(bindparam("day", type_=Date()), bindparam("now", type_=_STAMP))
_RESERVE_ACTIVE = text(
    _RESERVE_SQL.format(passive=0, active=1, counter="active_adds_today", cap="active_adds_per_day")
).bindparams(bindparam("day", type_=Date()), bindparam("now", type_=_STAMP))


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, account_id: int) -> OperatorAccount | None:
        return self.session.get(OperatorAccount, account_id)

    def get_for_update(self, account_id: int) -> OperatorAccount | None:
        return self.session.scalar(
            select(Account)
            .where(Account.id == account_id)
            .with_for_update(of=Account)
            .execution_options(populate_existing=True)
        )

    def by_external_id(self, external_id: str) -> OperatorAccount | None:
        return self.session.scalar(select(Account).where(Account.external_id == external_id))

    def add(self, account: OperatorAccount) -> OperatorAccount:
        self.session.add(account)
        self.session.flush()
        return account

    def listing(
        self,
        page: PageRequest,
        owner_promoter_id: int | None = None,
        only_owner: bool = False,
        status: AccountStatus | None = None,
        query: str = "",
    ) -> Page[OperatorAccount]:
        statement = select(Account).where(Account.deleted_at.is_(None))
        if only_owner:
            statement = statement.where(Account.owner_promoter_id == owner_promoter_id)
        if status is not None:
            statement = statement.where(Account.status == status)
        if query:
            statement = statement.where(Account.name.contains(query, autoescape=True))
        return _paginate(self.session, statement.order_by(Account.id), page)

    def fleet_totals(
        self, day: date, owner_promoter_id: int | None, only_owner: bool
    ) -> dict[str, int]:
        active = Account.status == AccountStatus.ACTIVE
        unhealthy = or_(Account.recent_failures >= MAX_RECENT_FAILURES, Account.status != "active")
        statement = select(
            func.count(),
            func.coalesce(func.sum(case((active, 1), else_=0)), 0),
            func.coalesce(func.sum(Account.friends_used), 0),
            func.coalesce(func.sum(Account.max_friends), 0),
            func.coalesce(func.sum(_today_adds(day)), 0),
            func.coalesce(func.sum(case((active, Account.passive_adds_per_day), else_=0)), 0),
            func.coalesce(func.sum(case((unhealthy, 1), else_=0)), 0),
        ).where(Account.deleted_at.is_(None))
        if only_owner:
            statement = statement.where(Account.owner_promoter_id == owner_promoter_id)
        row = self.session.execute(statement).one()
        keys = (
            "accounts",
            "active_accounts",
            "friends_used",
            "friends_capacity",
            "passive_adds_today",
            "passive_adds_capacity_today",
            "unhealthy_accounts",
        )
        return {key: int(value) for key, value in zip(keys, row, strict=True)}

    def candidates(
        self,
        rule: Rule,
        day: date,
        minute: int,
        limit: int | None,
        order: str,
        last_account_id: int = 0,
        only_ids: Sequence[int] | None = None,
    ) -> list[AccountSnapshot]:
        """Eligible accounts by the rule's column filters, caps, status and working hours.

        The pure ``rules.route`` re-checks everything (including product lines and health flags,
        which are JSON and filtered in Python); this pre-filter only keeps the scan's read small.
        """
        columns = (
            Account.id,
            Account.friends_used,
            Account.max_friends,
            Account.adds_day,
            Account.passive_adds_today,
            Account.passive_adds_per_day,
            Account.working_from_minute,
            Account.working_until_minute,
            Account.recent_failures,
            Account.restriction_flags,
            Account.province_code,
            Account.city_code,
            Account.district_code,
            Account.product_lines,
            Account.persona_id,
            Account.owner_promoter_id,
            Account.weight,
        )
        start, until = Account.working_from_minute, Account.working_until_minute
        statement = select(*columns).where(
            Account.deleted_at.is_(None),
            Account.status == AccountStatus.ACTIVE,
            Account.recent_failures < MAX_RECENT_FAILURES,
            Account.friends_used < Account.max_friends,
            _today_adds(day) < Account.passive_adds_per_day,
            or_(
                and_(start <= until, start <= minute, until > minute),
                and_(start > until, or_(start <= minute, until > minute)),
            ),
        )
        if only_ids is not None:
            statement = statement.where(Account.id.in_(list(only_ids)))
        if rule.account_ids is not None:
            statement = statement.where(Account.id.in_(sorted(rule.account_ids)))
        if rule.persona_ids is not None:
            statement = statement.where(Account.persona_id.in_(sorted(rule.persona_ids)))
        if rule.province_codes is not None:
            statement = statement.where(Account.province_code.in_(sorted(rule.province_codes)))
        if rule.city_codes is not None:
            statement = statement.where(Account.city_code.in_(sorted(rule.city_codes)))
        if rule.district_codes is not None:
            statement = statement.where(Account.district_code.in_(sorted(rule.district_codes)))
        if rule.filters_owner:
            statement = statement.where(
                Account.owner_promoter_id.is_(None)
                if rule.owner_promoter_id is None
                else Account.owner_promoter_id == rule.owner_promoter_id
            )
        if order == "least_loaded":
            load = Account.friends_used * 1.0 / func.nullif(Account.max_friends, 0)
            statement = statement.order_by(load, func.random())
        elif order == "round_robin":
            statement = statement.order_by(Account.id <= last_account_id, Account.id)
        if limit is not None and rule.product_lines is None:
            statement = statement.limit(limit)
        rows = self.session.execute(statement).all()
        return [
            AccountSnapshot(
                id=row.id,
                friends_used=row.friends_used,
                max_friends=row.max_friends,
                adds_day=row.adds_day,
                passive_adds_today=row.passive_adds_today,
                passive_adds_per_day=row.passive_adds_per_day,
                working_from_minute=row.working_from_minute,
                working_until_minute=row.working_until_minute,
                recent_failures=row.recent_failures,
                restricted=bool(row.restriction_flags),
                province_code=row.province_code,
                city_code=row.city_code,
                district_code=row.district_code,
                product_lines=frozenset(row.product_lines or ()),
                persona_id=row.persona_id,
                owner_promoter_id=row.owner_promoter_id,
                weight=row.weight,
            )
            for row in rows
        ]

    def any_matching(self, rule: Rule) -> bool:
        """Is any live account named by the rule's column filters (whatever its caps)?"""
        statement = select(Account.id).where(Account.deleted_at.is_(None))
        for column, values in (
            (Account.id, rule.account_ids),
            (Account.persona_id, rule.persona_ids),
            (Account.province_code, rule.province_codes),
            (Account.city_code, rule.city_codes),
            (Account.district_code, rule.district_codes),
        ):
            if values is not None:
                statement = statement.where(column.in_(sorted(values)))
        return self.session.scalar(statement.limit(1)) is not None

    def reserve(self, account_id: int, day: date, active: bool = False) -> bool:
        """Take one friend seat and one of today's adds, only if both are under their caps.

        One statement: the row lock (PostgreSQL) or the write lock (SQLite) makes the check and
        the increment atomic, and a first add on a new day resets both daily counters. Built
        once (the hot path of every scan), executed with parameters.
        """
        statement = _RESERVE_ACTIVE if active else _RESERVE_PASSIVE
        # connection().execute: plain SQL needs none of the ORM session's execution layer.
        result = self.session.connection().execute(
            statement, {"account_id": account_id, "day": day, "now": utc_now()}
        )
        return bool(result.rowcount)

    def release_seat(self, account_id: int) -> None:
        self.session.execute(
            update(Account)
            .where(Account.id == account_id, Account.friends_used > 0)
            .values({Account.friends_used: Account.friends_used - 1})
            .execution_options(synchronize_session=False)
        )

    def cancel_reservation(self, account_id: int, day: date) -> None:
        """Undo ``reserve`` in the same transaction (the seat turned out not to be needed)."""
        self.session.execute(
            update(Account)
            .where(Account.id == account_id, Account.friends_used > 0)
            .values(
                {
                    Account.friends_used: Account.friends_used - 1,
                    Account.passive_adds_today: case(
                        (
                            and_(Account.adds_day == day, Account.passive_adds_today > 0),
                            Account.passive_adds_today - 1,
                        ),
                        else_=Account.passive_adds_today,
                    ),
                }
            )
            .execution_options(synchronize_session=False)
        )

    def take_seat_unconditionally(self, account_id: int) -> None:
        """A friendship the channel reports as a fact (added outside siyu): count it."""
        self.session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values({Account.friends_used: Account.friends_used + 1})
            .execution_options(synchronize_session=False)
        )

    def record_failure(self, account_id: int, when: datetime) -> None:
        self.session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(
                {
                    Account.recent_failures: Account.recent_failures + 1,
                    Account.last_failure_at: when,
                }
            )
            .execution_options(synchronize_session=False)
        )

    def live_ids(self, account_ids: Sequence[int]) -> list[int]:
        if not account_ids:
            return []
        return list(
            self.session.scalars(
                select(Account.id).where(
                    Account.id.in_(list(account_ids)), Account.deleted_at.is_(None)
                )
            )
        )

    def personas(self) -> Sequence[Persona]:
        return self.session.scalars(select(Persona).order_by(Persona.id)).all()

    def add_persona(self, persona: Persona) -> Persona:
        self.session.add(persona)
        self.session.flush()
        return persona


class CodeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code_id: int) -> ChannelCode | None:
        return self.session.get(ChannelCode, code_id)

    def by_code(self, code: str) -> ChannelCode | None:
        return self.session.scalar(select(ChannelCode).where(ChannelCode.code == code))

    def by_state(self, state: str) -> ChannelCode | None:
        return self.session.scalar(select(ChannelCode).where(ChannelCode.state == state))

    def add(self, code: ChannelCode) -> ChannelCode:
        self.session.add(code)
        self.session.flush()
        return code

    def listing(
        self, page: PageRequest, owner_promoter_id: int | None, only_owner: bool
    ) -> Page[ChannelCode]:
        statement = select(ChannelCode).where(ChannelCode.parent_id.is_(None))
        if only_owner:
            statement = statement.where(ChannelCode.owner_promoter_id == owner_promoter_id)
        return _paginate(self.session, statement.order_by(ChannelCode.id.desc()), page)

    def set_cursor(self, code_id: int, account_id: int) -> None:
        self.session.execute(
            update(ChannelCode)
            .where(ChannelCode.id == code_id)
            .values({ChannelCode.round_robin_cursor: account_id})
            .execution_options(synchronize_session=False)
        )

    def add_scan(self, scan: Any) -> Any:
        """Plain insert of a scan record (``service.ScanRecord``); the record gets its id."""
        values = {column: getattr(scan, column) for column in _SCAN_COLUMNS}
        values["outcome"] = str(values["outcome"])
        scan.id = int(self.session.connection().execute(_INSERT_SCAN, values).scalar_one())
        return scan

    def scan_counts(self, code_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(ChannelScan.outcome, func.count())
            .where(ChannelScan.code_id == code_id)
            .group_by(ChannelScan.outcome)
        ).all()
        return {str(outcome): int(count) for outcome, count in rows}

    def adds_by_account(self, code_id: int) -> list[tuple[int, str, int, int]]:
        """(account id, name, contacts routed, of them confirmed) for one code and its
        personal codes."""
        codes = select(ChannelCode.id).where(
            or_(ChannelCode.id == code_id, ChannelCode.parent_id == code_id)
        )
        confirmed = case((Contact.state == ContactState.CONFIRMED, 1), else_=0)
        rows = self.session.execute(
            select(Account.id, Account.name, func.count(Contact.id), func.sum(confirmed))
            .join(Contact, Contact.account_id == Account.id)
            .where(Contact.source_kind == "code", Contact.source_id.in_(codes))
            .group_by(Account.id, Account.name)
            .order_by(Account.id)
        ).all()
        return [(row[0], row[1], int(row[2]), int(row[3] or 0)) for row in rows]


class ContactRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, contact_id: int) -> Contact | None:
        return self.session.get(Contact, contact_id)

    def get_for_update(self, contact_id: int) -> Contact | None:
        return self.session.scalar(
            select(Contact)
            .where(Contact.id == contact_id)
            .with_for_update(of=Contact)
            .execution_options(populate_existing=True)
        )

    def many_for_update(self, contact_ids: Sequence[int]) -> Sequence[Contact]:
        if not contact_ids:
            return []
        return self.session.scalars(
            select(Contact)
            .where(Contact.id.in_(contact_ids))
            .order_by(Contact.id)
            .with_for_update(of=Contact)
            .execution_options(populate_existing=True)
        ).all()

    def find(self, consumer_id: int, account_id: int) -> Contact | None:
        return self.session.scalar(
            select(Contact).where(
                Contact.consumer_id == consumer_id, Contact.account_id == account_id
            )
        )

    def live_for_code(self, consumer_id: int, code_ids: Sequence[int]) -> Contact | None:
        return self.session.scalar(
            select(Contact)
            .where(
                Contact.consumer_id == consumer_id,
                Contact.source_kind == "code",
                Contact.source_id.in_(list(code_ids)),
                Contact.state != ContactState.REMOVED,
            )
            .limit(1)
        )

    def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        self.session.flush()
        return contact

    def insert(self, values: dict[str, Any]) -> int:
        """Plain insert for the scan hot path (no unit-of-work bookkeeping)."""
        now = utc_now()
        params = {
            "province_code": "",
            "city_code": "",
            "district_code": "",
            **values,
            "created_at": now,
            "updated_at": now,
        }
        for key in ("source_kind", "state", "lifecycle_stage"):
            params[key] = str(params[key])
        return int(self.session.connection().execute(_INSERT_CONTACT, params).scalar_one())

    def listing(
        self,
        page: PageRequest,
        owner_promoter_id: int | None,
        only_owner: bool,
        account_id: int | None,
    ) -> Page[Contact]:
        statement = select(Contact)
        if only_owner:
            statement = statement.where(Contact.owner_promoter_id == owner_promoter_id)
        if account_id is not None:
            statement = statement.where(Contact.account_id == account_id)
        return _paginate(self.session, statement.order_by(Contact.id.desc()), page)

    def pending_before(self, cutoff: datetime, limit: int) -> list[int]:
        return list(
            self.session.scalars(
                select(Contact.id)
                .where(Contact.state == ContactState.PENDING, Contact.added_at < cutoff)
                .order_by(Contact.id)
                .limit(limit)
            )
        )

    def recently_active(self, account_id: int, limit: int) -> list[Contact]:
        """The account's confirmed contacts, most recently in touch first (then newest)."""
        return list(
            self.session.scalars(
                select(Contact)
                .where(Contact.account_id == account_id, Contact.state == ContactState.CONFIRMED)
                .order_by(Contact.last_message_at.desc().nulls_last(), Contact.id.desc())
                .limit(limit)
            )
        )


class GroupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, group_id: int) -> WechatGroup | None:
        return self.session.get(WechatGroup, group_id)

    def add(self, group: WechatGroup) -> WechatGroup:
        self.session.add(group)
        self.session.flush()
        return group

    def take_seat(self, group_id: int) -> bool:
        """One member more, only while under capacity (the same conditional-UPDATE guarantee)."""
        result = self.session.execute(
            update(WechatGroup)
            .where(
                WechatGroup.id == group_id,
                WechatGroup.status == GroupStatus.OPEN,
                WechatGroup.members_count < WechatGroup.capacity,
            )
            .values({WechatGroup.members_count: WechatGroup.members_count + 1})
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def release_seat(self, group_id: int) -> None:
        self.session.execute(
            update(WechatGroup)
            .where(WechatGroup.id == group_id, WechatGroup.members_count > 0)
            .values(
                {
                    WechatGroup.members_count: WechatGroup.members_count - 1,
                    WechatGroup.status: case(
                        (WechatGroup.status == GroupStatus.FULL, GroupStatus.OPEN.value),
                        else_=WechatGroup.status,
                    ),
                }
            )
            .execution_options(synchronize_session=False)
        )

    def mark_full(self, group_id: int) -> None:
        self.session.execute(
            update(WechatGroup)
            .where(WechatGroup.id == group_id, WechatGroup.status == GroupStatus.OPEN)
            .values({WechatGroup.status: GroupStatus.FULL})
            .execution_options(synchronize_session=False)
        )

    def open_groups_of_code(self, group_code_id: int) -> list[int]:
        return list(
            self.session.scalars(
                select(WechatGroup.id)
                .where(
                    WechatGroup.group_code_id == group_code_id,
                    WechatGroup.status == GroupStatus.OPEN,
                    WechatGroup.members_count < WechatGroup.capacity,
                )
                .order_by(WechatGroup.sequence)
            )
        )

    def groups_of_code(self, group_code_id: int) -> Sequence[WechatGroup]:
        return self.session.scalars(
            select(WechatGroup)
            .where(WechatGroup.group_code_id == group_code_id)
            .order_by(WechatGroup.sequence)
        ).all()

    def present_member(self, group_id: int, consumer_id: int) -> GroupMember | None:
        return self.session.scalar(
            select(GroupMember).where(
                GroupMember.group_id == group_id,
                GroupMember.consumer_id == consumer_id,
                GroupMember.left_at.is_(None),
            )
        )

    def member_in_code(self, group_code_id: int, consumer_id: int) -> GroupMember | None:
        groups = select(WechatGroup.id).where(WechatGroup.group_code_id == group_code_id)
        return self.session.scalar(
            select(GroupMember)
            .where(
                GroupMember.group_id.in_(groups),
                GroupMember.consumer_id == consumer_id,
                GroupMember.left_at.is_(None),
            )
            .limit(1)
        )

    def add_member(self, member: GroupMember) -> GroupMember:
        self.session.add(member)
        self.session.flush()
        return member

    def listing(
        self, page: PageRequest, owner_promoter_id: int | None, only_owner: bool
    ) -> Page[WechatGroup]:
        statement = select(WechatGroup)
        if only_owner:
            statement = statement.where(WechatGroup.owner_promoter_id == owner_promoter_id)
        return _paginate(self.session, statement.order_by(WechatGroup.id), page)

    def group_code(self, group_code_id: int) -> GroupCode | None:
        return self.session.get(GroupCode, group_code_id)

    def group_code_for_update(self, group_code_id: int) -> GroupCode | None:
        return self.session.scalar(
            select(GroupCode)
            .where(GroupCode.id == group_code_id)
            .with_for_update(of=GroupCode)
            .execution_options(populate_existing=True)
        )

    def group_code_by_code(self, code: str) -> GroupCode | None:
        return self.session.scalar(select(GroupCode).where(GroupCode.code == code))

    def add_group_code(self, group_code: GroupCode) -> GroupCode:
        self.session.add(group_code)
        self.session.flush()
        return group_code

    def group_codes(self, owner_promoter_id: int | None, only_owner: bool) -> Sequence[GroupCode]:
        statement = select(GroupCode)
        if only_owner:
            statement = statement.where(GroupCode.owner_promoter_id == owner_promoter_id)
        return self.session.scalars(statement.order_by(GroupCode.id)).all()


class EventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_for_update(self, event_id: int) -> ChannelEvent | None:
        return self.session.scalar(
            select(ChannelEvent)
            .where(ChannelEvent.id == event_id)
            .with_for_update(of=ChannelEvent)
            .execution_options(populate_existing=True)
        )

    def many_for_update(self, event_ids: Sequence[int]) -> Sequence[ChannelEvent]:
        if not event_ids:
            return []
        return self.session.scalars(
            select(ChannelEvent)
            .where(ChannelEvent.id.in_(event_ids))
            .order_by(ChannelEvent.id)
            .with_for_update(of=ChannelEvent)
            .execution_options(populate_existing=True)
        ).all()

    def by_external(self, backend: str, external_event_id: str) -> ChannelEvent | None:
        return self.session.scalar(
            select(ChannelEvent).where(
                ChannelEvent.backend == backend,
                ChannelEvent.external_event_id == external_event_id,
            )
        )

    def add(self, event: ChannelEvent) -> ChannelEvent:
        self.session.add(event)
        self.session.flush()
        return event

    def unprocessed_ids(self, limit: int, received_before: datetime | None = None) -> list[int]:
        query = select(ChannelEvent.id).where(ChannelEvent.processed_at.is_(None))
        if received_before is not None:
            query = query.where(ChannelEvent.received_at < received_before)
        return list(self.session.scalars(query.order_by(ChannelEvent.id).limit(limit)))


class TaskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, task_id: int) -> AssistedTask | None:
        return self.session.get(AssistedTask, task_id)

    def get_for_update(self, task_id: int) -> AssistedTask | None:
        return self.session.scalar(
            select(AssistedTask)
            .where(AssistedTask.id == task_id)
            .with_for_update(of=AssistedTask)
            .execution_options(populate_existing=True)
        )

    def by_key(self, key: str) -> AssistedTask | None:
        return self.session.scalar(select(AssistedTask).where(AssistedTask.idempotency_key == key))

    def add(self, task: AssistedTask) -> AssistedTask:
        self.session.add(task)
        self.session.flush()
        return task

    def listing(
        self,
        page: PageRequest,
        owner_promoter_id: int | None,
        only_owner: bool,
        status: AssistedTaskStatus | None,
        due_before: datetime | None = None,
        account_id: int | None = None,
    ) -> Page[AssistedTask]:
        statement = select(AssistedTask)
        if only_owner:
            statement = statement.where(AssistedTask.owner_promoter_id == owner_promoter_id)
        if status is not None:
            statement = statement.where(AssistedTask.status == status)
        if due_before is not None:
            statement = statement.where(AssistedTask.due_at < due_before)
        if account_id is not None:
            statement = statement.where(AssistedTask.account_id == account_id)
        return _paginate(
            self.session, statement.order_by(AssistedTask.due_at, AssistedTask.id), page
        )
