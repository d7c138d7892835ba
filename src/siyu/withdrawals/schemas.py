"""Withdrawal API shapes. Money is integer fen."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.models import WithdrawalStatus


class WithdrawalIn(BaseModel):
    amount_fen: int = Field(ge=1)
    idempotency_key: str = Field(min_length=1, max_length=60)


class WithdrawalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    promoter_id: int
    amount_fen: int
    status: WithdrawalStatus
    bill_no: str | None
    payout_channel: str
    reject_reason: str | None
    failure_reason: str | None
    reviewed_at: datetime | None
    paid_at: datetime | None
    created_at: datetime


class WithdrawalPageOut(BaseModel):
    items: list[WithdrawalOut]
    total: int
    page: int
    pages: int


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
