"""Saved campaign forecasts (siyu.forecasts): the parameters a Monte Carlo run of the campaign
behaviour model was given and what it predicted, kept so it can be compared with what happened.

``draft``: the campaign draft the forecast ran (``siyu.forecasts.rules.draft_as_json``).
``results``: ``{"days": [{"day": 0, "<metric>": [p10, p50, p90], …}], "totals": {…},
"tiers": [{"name", "threshold", "stock", "issued": [p10, p50, p90]}], "warnings": [{"kind",
"tier", "district", "share_bp", "median_day"}]}``; money in 分, K as hundredths.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime


class CampaignForecast(IdMixin, TimestampMixin, Base):
    __tablename__ = "campaign_forecast"

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign.id"), index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    reach: Mapped[int] = mapped_column(Integer, doc="people who see the poster (per day or total)")
    reach_is_total: Mapped[bool] = mapped_column(Boolean, default=False)
    days: Mapped[int] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    market_size: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), doc="the first forecast day starts here (the campaign's start)"
    )
    draft: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
