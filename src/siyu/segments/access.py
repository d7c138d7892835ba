"""The personal-data access log (PIPL): one row for every read of contacts' personal data."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.time import utc_now
from siyu.models.segments import PersonalDataAccess


def record(
    session: Session,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: int | None,
    rows_count: int = 0,
    purpose: str = "",
) -> PersonalDataAccess:
    row = PersonalDataAccess(
        user_id=actor.user_id if actor is not None and actor.user_id else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        rows_count=rows_count,
        purpose=purpose[:500],
        accessed_at=utc_now(),
    )
    session.add(row)
    return row
