from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, selectinload

from siyu.kit.pagination import Page, PageRequest
from siyu.models import Click, Consumer, LinkPosition, LinkTargetKind, Promoter, TrackedLink


class RedirectRow(NamedTuple):
    id: int
    promoter_id: int
    target_kind: LinkTargetKind
    product_id: int | None
    coupon_batch_id: int | None
    activity_url: str | None
    expires_at: datetime
    is_active: bool
    invite_code: str


class LinkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, link_id: int) -> TrackedLink | None:
        return self.session.get(TrackedLink, link_id)

    def get_for_update(self, link_id: int) -> TrackedLink | None:
        return self.session.scalar(
            select(TrackedLink)
            .where(TrackedLink.id == link_id)
            .with_for_update(of=TrackedLink)
            .execution_options(populate_existing=True)
        )

    def get_by_short_code(self, short_code: str) -> TrackedLink | None:
        return self.session.scalar(select(TrackedLink).where(TrackedLink.short_code == short_code))

    def short_code_taken(self, short_code: str) -> bool:
        found = self.session.scalar(
            select(TrackedLink.id).where(TrackedLink.short_code == short_code).limit(1)
        )
        return found is not None

    def add(self, link: TrackedLink) -> TrackedLink:
        self.session.add(link)
        self.session.flush()
        return link

    def list(
        self, page: PageRequest, promoter_id: int | None = None, active_only: bool = False
    ) -> Page[TrackedLink]:
        statement = select(TrackedLink)
        if promoter_id is not None:
            statement = statement.where(TrackedLink.promoter_id == promoter_id)
        if active_only:
            statement = statement.where(TrackedLink.is_active.is_(True))
        total = self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        items = self.session.scalars(
            statement.options(
                selectinload(TrackedLink.product), selectinload(TrackedLink.coupon_batch)
            )
            .order_by(TrackedLink.id.desc())
            .offset(page.offset)
            .limit(page.size)
        ).all()
        return Page(list(items), total, page)

    def redirect_row(
        self, *, short_code: str | None = None, link_id: int | None = None
    ) -> RedirectRow | None:
        """What the redirect needs, by code or id, in one indexed query of plain columns (no
        ORM objects: a busy process reloads each cached link once per cache TTL)."""
        statement = select(
            TrackedLink.id,
            TrackedLink.promoter_id,
            TrackedLink.target_kind,
            TrackedLink.product_id,
            TrackedLink.coupon_batch_id,
            TrackedLink.activity_url,
            TrackedLink.expires_at,
            TrackedLink.is_active,
            Promoter.invite_code,
        ).join(Promoter, Promoter.id == TrackedLink.promoter_id)
        if short_code is not None:
            statement = statement.where(TrackedLink.short_code == short_code)
        if link_id is not None:
            statement = statement.where(TrackedLink.id == link_id)
        row = self.session.execute(statement).first()
        return RedirectRow(*row) if row is not None else None

    def link_counts_by_position(self, promoter_id: int | None) -> dict[LinkPosition, int]:
        statement = select(TrackedLink.position, func.count()).group_by(TrackedLink.position)
        if promoter_id is not None:
            statement = statement.where(TrackedLink.promoter_id == promoter_id)
        return {position: count for position, count in self.session.execute(statement).all()}


class ClickRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One executemany INSERT for a whole batch of buffered clicks.

        Core, not the ORM's bulk insert: the rows are plain values, and the ORM path costs
        several times more per row in the flusher thread, which shares the GIL with the redirect.
        """
        if rows:
            self.session.connection().execute(insert(Click), list(rows))

    def existing_tokens(self, tokens: Sequence[str]) -> set[str]:
        if not tokens:
            return set()
        return set(self.session.scalars(select(Click.token).where(Click.token.in_(tokens))))

    def existing_consumer_ids(self, consumer_ids: Sequence[int]) -> set[int]:
        if not consumer_ids:
            return set()
        return set(self.session.scalars(select(Consumer.id).where(Consumer.id.in_(consumer_ids))))

    def existing_link_ids(self, link_ids: Sequence[int]) -> set[int]:
        if not link_ids:
            return set()
        return set(self.session.scalars(select(TrackedLink.id).where(TrackedLink.id.in_(link_ids))))

    def get_by_token(self, token: str) -> Click | None:
        return self.session.scalar(select(Click).where(Click.token == token))

    def counts_by_link(self, links: Sequence[tuple[int, int]]) -> dict[int, int]:
        """Clicks per link for ``(promoter_id, link_id)`` pairs (the index leads with promoter)."""
        if not links:
            return {}
        promoter_ids = sorted({promoter_id for promoter_id, _ in links})
        link_ids = sorted({link_id for _, link_id in links})
        rows = self.session.execute(
            select(Click.link_id, func.count())
            .where(Click.promoter_id.in_(promoter_ids), Click.link_id.in_(link_ids))
            .group_by(Click.link_id)
        ).all()
        return {link_id: count for link_id, count in rows}

    def counts_by_position(self, promoter_id: int | None) -> dict[LinkPosition, int]:
        statement = (
            select(TrackedLink.position, func.count())
            .select_from(Click)
            .join(TrackedLink, TrackedLink.id == Click.link_id)
            .group_by(TrackedLink.position)
        )
        if promoter_id is not None:
            statement = statement.where(Click.promoter_id == promoter_id)
        return {position: count for position, count in self.session.execute(statement).all()}

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Click)) or 0
