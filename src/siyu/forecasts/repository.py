"""Queries of the forecasts domain (the only place that builds them)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import AccountStatus, ChannelCode, OperatorAccount
from siyu.models.forecasts import CampaignForecast
from siyu.pool import rules as pool_rules


class ForecastRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, forecast: CampaignForecast) -> CampaignForecast:
        self.session.add(forecast)
        self.session.flush()
        return forecast

    def get(self, forecast_id: int) -> CampaignForecast | None:
        return self.session.get(CampaignForecast, forecast_id)

    def of_campaigns(
        self, campaign_ids: Sequence[int] | None, limit: int = 200
    ) -> Sequence[CampaignForecast]:
        """Newest first; ``None`` = every campaign."""
        statement = select(CampaignForecast).order_by(CampaignForecast.id.desc()).limit(limit)
        if campaign_ids is not None:
            statement = statement.where(CampaignForecast.campaign_id.in_(sorted(campaign_ids)))
        return self.session.scalars(statement).all()

    def entry_places(self, code_id: int | None) -> tuple[str, ...]:
        """The region codes a channel code's rule routes (districts, cities, provinces)."""
        code = self.session.get(ChannelCode, code_id) if code_id is not None else None
        if code is None:
            return ()
        rule = pool_rules.parse_rule(code.rule or {})
        codes: set[str] = set()
        for values in (rule.district_codes, rule.city_codes, rule.province_codes):
            codes |= set(values or ())
        return tuple(sorted(codes))

    def entry_accounts(self, code_id: int | None) -> Sequence[OperatorAccount]:
        """The live, active accounts a channel code routes to: its rule's column filters and its
        spares (working hours and health are left to the day: a forecast spans whole days)."""
        if code_id is None:
            return []
        code = self.session.get(ChannelCode, code_id)
        if code is None:
            return []
        rule = pool_rules.parse_rule(code.rule or {})
        statement = select(OperatorAccount).where(
            OperatorAccount.deleted_at.is_(None), OperatorAccount.status == AccountStatus.ACTIVE
        )
        for column, values in (
            (OperatorAccount.id, rule.account_ids),
            (OperatorAccount.persona_id, rule.persona_ids),
            (OperatorAccount.province_code, rule.province_codes),
            (OperatorAccount.city_code, rule.city_codes),
            (OperatorAccount.district_code, rule.district_codes),
        ):
            if values is not None:
                statement = statement.where(column.in_(sorted(values)))
        if rule.filters_owner:
            statement = statement.where(
                OperatorAccount.owner_promoter_id.is_(None)
                if rule.owner_promoter_id is None
                else OperatorAccount.owner_promoter_id == rule.owner_promoter_id
            )
        accounts = {account.id: account for account in self.session.scalars(statement)}
        spares = [int(i) for i in code.spare_account_ids or []]
        if spares:
            for account in self.session.scalars(
                select(OperatorAccount).where(
                    OperatorAccount.id.in_(spares),
                    OperatorAccount.deleted_at.is_(None),
                    OperatorAccount.status == AccountStatus.ACTIVE,
                )
            ):
                accounts[account.id] = account
        return [accounts[key] for key in sorted(accounts)]
