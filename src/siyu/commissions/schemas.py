"""Commission, hold, ledger and statement API shapes. Money is integer fen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.models import CommissionState, FraudHoldStatus


class CommissionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_line_id: int
    promoter_id: int
    merchant_id: int
    level: int
    state: CommissionState
    amount_fen: int
    settles_at: datetime | None
    settled_at: datetime | None
    created_at: datetime


class CommissionPageOut(BaseModel):
    items: list[CommissionOut]
    total: int
    page: int
    pages: int


class EarningsOut(BaseModel):
    promoter_id: int
    by_state_fen: dict[str, int]
    balances_fen: dict[str, int]


class FraudHoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_line_id: int
    promoter_id: int
    reasons: list[Any]
    status: FraudHoldStatus
    decision_reason: str | None
    decided_at: datetime | None
    created_at: datetime


class FraudHoldPageOut(BaseModel):
    items: list[FraudHoldOut]
    total: int
    page: int
    pages: int


class DecisionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class LedgerEntryOut(BaseModel):
    id: int
    transaction_id: int
    kind: str
    correlation_key: str
    amount_fen: int
    created_at: datetime


class LedgerEntriesOut(BaseModel):
    account_id: int
    kind: str
    owner_type: str
    owner_id: int
    balance_fen: int
    items: list[LedgerEntryOut]
    total: int
    page: int
    pages: int


class StatementOut(BaseModel):
    promoter_id: int
    year: int
    month: int
    opening_fen: int
    accrued_fen: int
    reversed_fen: int
    withdrawn_fen: int
    other_fen: int
    closing_fen: int
    reconciles: bool


class SettleOut(BaseModel):
    settled: int


class MerchantCostOut(BaseModel):
    merchant_id: int
    commission_cost_fen: int
    """Commission charged net of cancellations and refunds (−merchant_payable balance)."""
