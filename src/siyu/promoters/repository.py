from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.orm import Session, aliased, selectinload

from siyu.kit.pagination import Page, PageRequest
from siyu.models import (
    Promoter,
    PromoterBinding,
    PromoterGrade,
    PromoterKind,
    PromoterStatus,
)
from siyu.promoters.rules import MAX_CHAIN_LENGTH


@dataclass(frozen=True)
class PromoterFilter:
    name: str = ""
    phone_index: str | None = None
    grade_id: int | None = None
    status: PromoterStatus | None = None
    kind: PromoterKind | None = None
    inviter_id: int | None = None


class PromoterRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, promoter_id: int) -> Promoter | None:
        return self.session.get(Promoter, promoter_id)

    def get_many(self, promoter_ids: Sequence[int]) -> dict[int, Promoter]:
        if not promoter_ids:
            return {}
        rows = self.session.scalars(select(Promoter).where(Promoter.id.in_(promoter_ids)))
        return {promoter.id: promoter for promoter in rows}

    def get_by_invite_code(self, invite_code: str) -> Promoter | None:
        return self.session.scalar(select(Promoter).where(Promoter.invite_code == invite_code))

    def get_by_phone_index(self, phone_index: str) -> Promoter | None:
        return self.session.scalar(select(Promoter).where(Promoter.phone_index == phone_index))

    def invite_code_taken(self, invite_code: str) -> bool:
        found = self.session.scalar(
            select(Promoter.id).where(Promoter.invite_code == invite_code).limit(1)
        )
        return found is not None

    def lock(self, promoter_ids: Sequence[int]) -> dict[int, Promoter]:
        """Lock rows in id order (PostgreSQL; SQLite already serialises writers)."""
        ids = sorted(set(promoter_ids))
        if not ids:
            return {}
        rows = self.session.scalars(
            select(Promoter)
            .where(Promoter.id.in_(ids))
            .order_by(Promoter.id)
            .with_for_update(of=Promoter)
            .execution_options(populate_existing=True)
        )
        return {promoter.id: promoter for promoter in rows}

    def add(self, promoter: Promoter) -> Promoter:
        self.session.add(promoter)
        self.session.flush()
        return promoter

    def ancestor_ids(self, promoter_id: int, limit: int = MAX_CHAIN_LENGTH) -> list[int]:
        """The promoter's inviter, that inviter's inviter, ... nearest first (itself excluded)."""
        chain = (
            select(Promoter.id, Promoter.inviter_id, literal(0).label("depth"))
            .where(Promoter.id == promoter_id)
            .cte("chain", recursive=True)
        )
        parent = aliased(Promoter)
        chain = chain.union_all(
            select(parent.id, parent.inviter_id, chain.c.depth + 1)
            .join(chain, parent.id == chain.c.inviter_id)
            .where(chain.c.depth < limit)
        )
        rows = self.session.execute(
            select(chain.c.id).where(chain.c.depth > 0).order_by(chain.c.depth)
        )
        ancestors: list[int] = []
        for (ancestor_id,) in rows:
            if ancestor_id in ancestors or ancestor_id == promoter_id:
                break  # a corrupt cycle: stop at the first repeat
            ancestors.append(ancestor_id)
        return ancestors

    def _filtered(self, filters: PromoterFilter) -> Select[Promoter]:
        statement = select(Promoter)
        conditions: list[ColumnElement[bool]] = []
        if filters.phone_index is not None:
            conditions.append(Promoter.phone_index == filters.phone_index)
        elif filters.name:
            conditions.append(Promoter.name.ilike(f"%{filters.name}%"))
        if filters.grade_id is not None:
            conditions.append(Promoter.grade_id == filters.grade_id)
        if filters.status is not None:
            conditions.append(Promoter.status == filters.status)
        if filters.kind is not None:
            conditions.append(Promoter.kind == filters.kind)
        if filters.inviter_id is not None:
            conditions.append(Promoter.inviter_id == filters.inviter_id)
        return statement.where(*conditions)

    def search(self, filters: PromoterFilter, page: PageRequest) -> Page[Promoter]:
        statement = self._filtered(filters)
        total = self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        items = self.session.scalars(
            statement.options(selectinload(Promoter.inviter))
            .order_by(Promoter.id.desc())
            .offset(page.offset)
            .limit(page.size)
        ).all()
        return Page(list(items), total, page)

    def direct_recruits(self, promoter_id: int, page: PageRequest) -> Page[Promoter]:
        return self.search(PromoterFilter(inviter_id=promoter_id), page)

    def count_direct(self, promoter_id: int, active_only: bool = False) -> int:
        statement = select(func.count()).where(Promoter.inviter_id == promoter_id)
        if active_only:
            statement = statement.where(Promoter.status == PromoterStatus.ACTIVE)
        return self.session.scalar(statement) or 0

    def count_second_level(self, promoter_id: int, active_only: bool = False) -> int:
        direct = select(Promoter.id).where(Promoter.inviter_id == promoter_id)
        statement = select(func.count()).where(Promoter.inviter_id.in_(direct.scalar_subquery()))
        if active_only:
            statement = statement.where(Promoter.status == PromoterStatus.ACTIVE)
        return self.session.scalar(statement) or 0

    def recruit_counts(self, promoter_ids: Sequence[int]) -> dict[int, int]:
        """How many direct recruits each of ``promoter_ids`` has."""
        if not promoter_ids:
            return {}
        rows = self.session.execute(
            select(Promoter.inviter_id, func.count())
            .where(Promoter.inviter_id.in_(promoter_ids))
            .group_by(Promoter.inviter_id)
        ).all()
        return {inviter_id: count for inviter_id, count in rows if inviter_id is not None}

    def recruits_of(
        self, promoter_ids: Sequence[int], per_promoter: int
    ) -> dict[int, list[Promoter]]:
        """Up to ``per_promoter`` direct recruits (oldest first) of each of ``promoter_ids``."""
        if not promoter_ids:
            return {}
        ranked = (
            select(
                Promoter.id,
                func.row_number()
                .over(partition_by=Promoter.inviter_id, order_by=Promoter.id)
                .label("position"),
            )
            .where(Promoter.inviter_id.in_(promoter_ids))
            .subquery()
        )
        rows = self.session.scalars(
            select(Promoter)
            .join(ranked, ranked.c.id == Promoter.id)
            .where(ranked.c.position <= per_promoter)
            .order_by(Promoter.id)
        )
        result: dict[int, list[Promoter]] = {promoter_id: [] for promoter_id in promoter_ids}
        for promoter in rows:
            if promoter.inviter_id is not None:
                result[promoter.inviter_id].append(promoter)
        return result

    def active_team_stats(self, promoter_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(active direct recruits, active L1 + L2) for each of ``promoter_ids`` in two queries."""
        if not promoter_ids:
            return {}
        direct = aliased(Promoter)
        direct_rows = self.session.execute(
            select(direct.inviter_id, func.count())
            .where(direct.inviter_id.in_(promoter_ids), direct.status == PromoterStatus.ACTIVE)
            .group_by(direct.inviter_id)
        ).all()
        second = aliased(Promoter)
        second_rows = self.session.execute(
            select(direct.inviter_id, func.count())
            .select_from(second)
            .join(direct, second.inviter_id == direct.id)
            .where(direct.inviter_id.in_(promoter_ids), second.status == PromoterStatus.ACTIVE)
            .group_by(direct.inviter_id)
        ).all()
        direct_counts = {key: count for key, count in direct_rows if key is not None}
        second_counts = {key: count for key, count in second_rows if key is not None}
        return {
            promoter_id: (
                direct_counts.get(promoter_id, 0),
                direct_counts.get(promoter_id, 0) + second_counts.get(promoter_id, 0),
            )
            for promoter_id in promoter_ids
        }

    def ids_after(self, after_id: int, limit: int) -> list[int]:
        return list(
            self.session.scalars(
                select(Promoter.id)
                .where(Promoter.id > after_id, Promoter.status == PromoterStatus.ACTIVE)
                .order_by(Promoter.id)
                .limit(limit)
            )
        )


class BindingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, binding: PromoterBinding) -> PromoterBinding:
        self.session.add(binding)
        return binding

    def history(self, promoter_id: int) -> list[PromoterBinding]:
        return list(
            self.session.scalars(
                select(PromoterBinding)
                .where(PromoterBinding.promoter_id == promoter_id)
                .order_by(PromoterBinding.id.desc())
            )
        )


class GradeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self) -> list[PromoterGrade]:
        return list(self.session.scalars(select(PromoterGrade).order_by(PromoterGrade.level)))

    def get(self, grade_id: int) -> PromoterGrade | None:
        return self.session.get(PromoterGrade, grade_id)

    def entry(self) -> PromoterGrade | None:
        return self.session.scalar(select(PromoterGrade).order_by(PromoterGrade.level).limit(1))

    def add_all(self, grades: Sequence[PromoterGrade]) -> None:
        self.session.add_all(grades)
        self.session.flush()
