"""Payout channels: how approved withdrawals reach the promoter's bank or wallet.

A channel is keyed by the withdrawal's bill number and must treat a resubmission of the same bill
as the same payout (the bank/WeChat Pay de-duplicates on it). That is why a payout whose outcome is
unknown is only ever resubmitted under its original bill number: a new number could pay twice.
The manual channel exports a CSV for the finance team; WeChat Pay (企业付款到零钱) comes later as
another implementation of ``PayoutChannel``.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from siyu.kit.money import format_yuan
from siyu.kit.time import format_shanghai
from siyu.models import Withdrawal


class PayoutOutcome(enum.StrEnum):
    SUBMITTED = "submitted"  # accepted, outcome not known yet: never re-issue under a new bill
    PAID = "paid"
    FAILED = "failed"  # a confirmed failure: the money may be re-credited


@dataclass(frozen=True)
class PayoutResult:
    bill_no: str
    outcome: PayoutOutcome
    detail: str = ""


class PayoutChannel(Protocol):
    name: str

    def submit(self, withdrawal: Withdrawal) -> PayoutResult:
        """Send (or re-send) the payout for ``withdrawal.bill_no``; idempotent per bill number."""
        ...


class ManualExport:
    """Finance pays by bank transfer from an exported list, then marks each paid or failed."""

    name = "manual"

    def __init__(self) -> None:
        self.submitted: dict[str, int] = {}

    def submit(self, withdrawal: Withdrawal) -> PayoutResult:
        assert withdrawal.bill_no is not None
        self.submitted[withdrawal.bill_no] = withdrawal.amount_fen
        return PayoutResult(withdrawal.bill_no, PayoutOutcome.SUBMITTED)

    def export_csv(self, withdrawals: Iterable[Withdrawal], names: Mapping[int, str]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["单号", "推手编号", "推手", "金额（元）", "申请时间"])
        for withdrawal in withdrawals:
            writer.writerow(
                [
                    withdrawal.bill_no or "",
                    withdrawal.promoter_id,
                    _cell(names.get(withdrawal.promoter_id, "")),
                    format_yuan(withdrawal.amount_fen),
                    format_shanghai(withdrawal.created_at),
                ]
            )
        return buffer.getvalue()


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas in free text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


CHANNELS: dict[str, PayoutChannel] = {"manual": ManualExport()}


def channel(name: str) -> PayoutChannel:
    return CHANNELS[name]
