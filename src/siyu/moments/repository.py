"""Queries for moments. The only module here that builds SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.models import AccountStatus, OperatorAccount
from siyu.models.moments import (
    InteractionDirection,
    MomentColumn,
    MomentColumnStatus,
    MomentInteraction,
    MomentPost,
    MomentPostStatus,
    MomentPublication,
    PublicationStatus,
)

LIVE_ACCOUNT_STATUSES = (AccountStatus.ACTIVE, AccountStatus.RESTING)


class MomentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- columns ---------------------------------------------------------------------------

    def add(self, row: MomentColumn | MomentPost | MomentPublication) -> None:
        self.session.add(row)
        self.session.flush()

    def column(self, column_id: int) -> MomentColumn | None:
        return self.session.get(MomentColumn, column_id)

    def columns(self, include_paused: bool = True) -> Sequence[MomentColumn]:
        query = select(MomentColumn).order_by(MomentColumn.slot_minute, MomentColumn.id)
        if not include_paused:
            query = query.where(MomentColumn.status == MomentColumnStatus.ACTIVE)
        return self.session.scalars(query).all()

    def accounts_for(self, column: MomentColumn) -> Sequence[OperatorAccount]:
        query = select(OperatorAccount).where(
            OperatorAccount.deleted_at.is_(None),
            OperatorAccount.status.in_(LIVE_ACCOUNT_STATUSES),
        )
        if column.account_ids:
            query = query.where(OperatorAccount.id.in_(column.account_ids))
        elif column.persona_id is not None:
            query = query.where(OperatorAccount.persona_id == column.persona_id)
        else:
            return []
        return self.session.scalars(query.order_by(OperatorAccount.id)).all()

    def accounts_exist(self, account_ids: Sequence[int]) -> set[int]:
        if not account_ids:
            return set()
        return set(
            self.session.scalars(
                select(OperatorAccount.id).where(
                    OperatorAccount.id.in_(account_ids), OperatorAccount.deleted_at.is_(None)
                )
            )
        )

    # --- posts -----------------------------------------------------------------------------

    def post(self, post_id: int) -> MomentPost | None:
        return self.session.get(MomentPost, post_id)

    def post_for_update(self, post_id: int) -> MomentPost | None:
        return self.session.scalars(
            select(MomentPost).where(MomentPost.id == post_id).with_for_update(of=MomentPost)
        ).first()

    def post_of_column_on(self, column_id: int, day: date) -> MomentPost | None:
        return self.session.scalars(
            select(MomentPost).where(
                MomentPost.column_id == column_id,
                MomentPost.publish_on == day,
                MomentPost.status != MomentPostStatus.CANCELLED,
            )
        ).first()

    def posts_between(self, first: date, last: date) -> Sequence[MomentPost]:
        return self.session.scalars(
            select(MomentPost)
            .where(MomentPost.publish_on >= first, MomentPost.publish_on <= last)
            .order_by(MomentPost.publish_at, MomentPost.id)
        ).all()

    # --- publications ----------------------------------------------------------------------

    def publication(self, publication_id: int) -> MomentPublication | None:
        return self.session.get(MomentPublication, publication_id)

    def publications_of(self, post_id: int) -> Sequence[MomentPublication]:
        return self.session.scalars(
            select(MomentPublication)
            .where(MomentPublication.post_id == post_id)
            .order_by(MomentPublication.account_id)
        ).all()

    def due_publications(self, now: datetime, limit: int) -> list[int]:
        return list(
            self.session.scalars(
                select(MomentPublication.id)
                .where(
                    MomentPublication.status == PublicationStatus.PENDING,
                    MomentPublication.due_at <= now,
                )
                .order_by(MomentPublication.due_at, MomentPublication.id)
                .limit(limit)
            )
        )

    def claim(self, publication_id: int, to: PublicationStatus) -> bool:
        """Move a pending publication on; False when another worker already did (exactly once)."""
        result = self.session.execute(
            update(MomentPublication)
            .where(
                MomentPublication.id == publication_id,
                MomentPublication.status == PublicationStatus.PENDING,
            )
            .values(status=to)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def open_publications(self, post_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count()).where(
                    MomentPublication.post_id == post_id,
                    MomentPublication.status.in_(
                        (PublicationStatus.PENDING, PublicationStatus.QUEUED)
                    ),
                )
            )
            or 0
        )

    # --- interactions ----------------------------------------------------------------------

    def add_interaction(self, interaction: MomentInteraction) -> bool:
        """Insert once per ``source_key``; False when it was already recorded."""
        try:
            with self.session.begin_nested():
                self.session.add(interaction)
                self.session.flush()
        except IntegrityError:
            return False
        return True

    def interaction_counts(self, publication_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        if not publication_ids:
            return {}
        rows = self.session.execute(
            select(MomentInteraction.publication_id, MomentInteraction.kind, func.count())
            .where(MomentInteraction.publication_id.in_(publication_ids))
            .group_by(MomentInteraction.publication_id, MomentInteraction.kind)
        ).all()
        counts: dict[int, dict[str, int]] = {}
        for publication_id, kind, count in rows:
            if publication_id is not None:
                counts.setdefault(int(publication_id), {})[kind.value] = int(count)
        return counts

    def interactions_of(self, publication_id: int) -> Sequence[MomentInteraction]:
        return self.session.scalars(
            select(MomentInteraction)
            .where(MomentInteraction.publication_id == publication_id)
            .order_by(MomentInteraction.occurred_at, MomentInteraction.id)
        ).all()

    def outgoing_since(self, account_id: int, since: datetime) -> dict[str, int]:
        rows = self.session.execute(
            select(MomentInteraction.kind, func.count())
            .where(
                MomentInteraction.account_id == account_id,
                MomentInteraction.direction == InteractionDirection.OUT,
                MomentInteraction.occurred_at >= since,
            )
            .group_by(MomentInteraction.kind)
        ).all()
        return {kind.value: int(count) for kind, count in rows}

    def last_outgoing(self, account_id: int, contact_ids: Sequence[int]) -> dict[int, datetime]:
        if not contact_ids:
            return {}
        rows = self.session.execute(
            select(MomentInteraction.contact_id, func.max(MomentInteraction.occurred_at))
            .where(
                MomentInteraction.account_id == account_id,
                MomentInteraction.direction == InteractionDirection.OUT,
                MomentInteraction.contact_id.in_(contact_ids),
            )
            .group_by(MomentInteraction.contact_id)
        ).all()
        return {int(contact_id): at for contact_id, at in rows}

    def live_accounts(self) -> list[int]:
        return list(
            self.session.scalars(
                select(OperatorAccount.id)
                .where(
                    OperatorAccount.deleted_at.is_(None),
                    OperatorAccount.status == AccountStatus.ACTIVE,
                )
                .order_by(OperatorAccount.id)
            )
        )
