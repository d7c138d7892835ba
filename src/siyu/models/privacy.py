"""The personal-data access log (PIPL): one row per person whose data someone read."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin


class PersonalDataAccess(IdMixin, TimestampMixin, Base):
    """Append-only: who (user) read which fields of whose (subject) data, for what purpose.

    ``created_at`` is the moment of the read. Reads by the person themselves (a buyer's own
    order page) and by siyu's own jobs are not logged: the log answers "who at the platform,
    a merchant or a promoter saw my data" (PIPL art. 45 requests).
    """

    __tablename__ = "personal_data_access"
    __table_args__ = (
        Index("ix_personal_data_access_subject", "subject_type", "subject_id", "created_at"),
    )

    actor_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(16), doc="consumer | promoter | contact")
    subject_id: Mapped[int] = mapped_column(BigId)
    purpose: Mapped[str] = mapped_column(String(64), doc="the page or API that read it")
    fields: Mapped[str] = mapped_column(String(120), doc="what was shown, e.g. phone_masked")
