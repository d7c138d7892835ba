from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin


class CityTierOverride(IdMixin, TimestampMixin, Base):
    """A platform's correction of the shipped city tier table (wins over the file and settings).

    ``city_code``: a prefecture-level city, a municipality (its province code) or a county-level
    division. ``tier`` is a ``siyu.regions.rules.CityTier`` value.
    """

    __tablename__ = "city_tier_override"

    city_code: Mapped[str] = mapped_column(String(6), unique=True)
    tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    updated_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
