from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime


class Consumer(IdMixin, TimestampMixin, Base):
    """One person who buys (C). Contacts, tags and lifecycle come with the traffic-pool issue.

    Found by WeChat union id or by phone (keyed blind index; the phone itself is encrypted).
    ``bound_promoter_id`` is the consumer's binding (锁粉) to the promoter who first brought them.
    """

    __tablename__ = "consumer"

    nickname: Mapped[str] = mapped_column(String(64), default="")
    union_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_encrypted: Mapped[str | None] = mapped_column(String(255))
    phone_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    bound_promoter_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("promoter.id"), index=True
    )
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    binding_source: Mapped[str | None] = mapped_column(String(32))
