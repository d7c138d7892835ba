"""Access-log queries. The only place that builds them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.models import PersonalDataAccess, User


class PrivacyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_many(
        self,
        actor_user_id: int,
        subject_type: str,
        subject_ids: Sequence[int],
        purpose: str,
        fields: str,
    ) -> None:
        """One multi-row INSERT for a whole page of subjects (a list view logs 50 at once)."""
        now = utc_now()
        rows = [
            {
                "actor_user_id": actor_user_id,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "purpose": purpose,
                "fields": fields,
                "created_at": now,
                "updated_at": now,
            }
            for subject_id in subject_ids
        ]
        if rows:
            self.session.execute(insert(PersonalDataAccess), rows)

    def search(
        self,
        page: PageRequest,
        *,
        subject_type: str | None = None,
        subject_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> Page[PersonalDataAccess]:
        statement = select(PersonalDataAccess)
        if subject_type is not None:
            statement = statement.where(PersonalDataAccess.subject_type == subject_type)
        if subject_id is not None:
            statement = statement.where(PersonalDataAccess.subject_id == subject_id)
        if actor_user_id is not None:
            statement = statement.where(PersonalDataAccess.actor_user_id == actor_user_id)
        total = self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        items = self.session.scalars(
            statement.order_by(PersonalDataAccess.id.desc()).limit(page.size).offset(page.offset)
        ).all()
        return Page(items=list(items), total=int(total), request=page)

    def usernames(self, user_ids: Sequence[int]) -> dict[int, str]:
        rows = self.session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
        return {int(row[0]): str(row[1]) for row in rows}
