from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin


class AuditEvent(IdMixin, TimestampMixin, Base):
    """Append-only record of who did what to which object (and why)."""

    __tablename__ = "audit_event"

    actor_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None] = mapped_column(BigId)
    reason: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
