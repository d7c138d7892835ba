"""Saved forecasts: parameters, bands, warnings, visibility, bad input, forecast vs actual."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.analytics.campaigns import CampaignNotFound
from siyu.auth.principal import Principal
from siyu.forecasts import rules
from siyu.forecasts import service as forecasts
from siyu.models import Role
from siyu.models.forecasts import CampaignForecast
from tests.campaigns.conftest import GANZHOU, ZHOUKOU, World

SMALL = forecasts.ForecastParams(reach=300, days=5, runs=20, seed=3, market_size=2_000)


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count(CampaignForecast.id))) or 0)


class TestCreate:
    def test_saves_parameters_and_bands(self, world: World, admin: Principal) -> None:
        campaign = world.campaign()
        forecast = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        assert (forecast.reach, forecast.days, forecast.runs, forecast.seed) == (300, 5, 20, 3)
        assert forecast.market_size == 2_000
        assert forecast.created_by_user_id == admin.user_id
        results = forecast.results
        assert [d["day"] for d in results["days"]] == [0, 1, 2, 3, 4]
        for entry in results["days"]:
            for metric in rules.DAY_METRICS:
                low, mid, high = entry[metric]
                assert 0 <= low <= mid <= high
        # Cumulative: the median never goes down from one day to the next.
        medians = [d["adds"][1] for d in results["days"]]
        assert medians == sorted(medians)
        assert results["totals"]["adds"][1] == results["days"][-1]["adds"][1]
        assert [t["name"] for t in results["tiers"]] == ["拉杆箱", "加赠旅行收纳袋"]
        assert results["tiers"][0]["stock"] == 10
        assert results["tiers"][0]["issued"][2] <= 10
        # The draft was taken from the campaign: its districts, stock and the entry account.
        draft = forecast.draft
        assert draft["places"] == [GANZHOU, ZHOUKOU]
        assert draft["tiers"][0]["districts"] == {GANZHOU: 5, ZHOUKOU: 3}
        assert draft["accounts"][0]["adds_per_day"] == 500

    def test_same_seed_same_forecast(self, world: World, admin: Principal) -> None:
        campaign = world.campaign()
        first = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        second = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        assert first.results == second.results

    def test_caps_running_out_are_warned(self, world: World, admin: Principal) -> None:
        from siyu.models import OperatorAccount

        account = world.session.get_one(OperatorAccount, world.account_id)
        account.passive_adds_per_day = 2
        world.session.flush()
        campaign = world.campaign()
        forecast = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        first = forecast.results["warnings"][0]
        assert first["kind"] == "daily_adds"
        assert first["median_day"] == 0
        assert first["share_bp"] == 10_000

    def test_days_default_to_the_campaign(self, world: World, admin: Principal) -> None:
        campaign = world.campaign()  # starts an hour ago, ends in 7 days
        params = forecasts.ForecastParams(reach=50, runs=2, market_size=500)
        assert forecasts.create_forecast(world.session, admin, campaign.id, params).days == 8

    @pytest.mark.parametrize(
        ("values", "error"),
        [
            ({"reach": 0}, forecasts.ForecastReachInvalid),
            ({"reach": -5}, forecasts.ForecastReachInvalid),
            ({"runs": 0}, forecasts.ForecastRunsInvalid),
            ({"runs": 1001}, forecasts.ForecastRunsInvalid),
            ({"days": 0}, forecasts.ForecastDaysInvalid),
            ({"days": 61}, forecasts.ForecastDaysInvalid),
            ({"market_size": 10}, forecasts.ForecastMarketSizeInvalid),
        ],
    )
    def test_bad_input_saves_nothing(
        self, world: World, admin: Principal, values: dict[str, int], error: type[Exception]
    ) -> None:
        campaign = world.campaign()
        params = forecasts.ForecastParams(**{**SMALL.__dict__, **values})
        with pytest.raises(error) as raised:
            forecasts.create_forecast(world.session, admin, campaign.id, params)
        assert raised.value.status == 422  # type: ignore[attr-defined]
        assert raised.value.zh  # type: ignore[attr-defined]
        assert _count(world.session) == 0

    def test_an_entry_code_without_accounts_cannot_be_forecast(
        self, world: World, admin: Principal
    ) -> None:
        from siyu.models import AccountStatus, OperatorAccount

        campaign = world.campaign()
        account = world.session.get_one(OperatorAccount, world.account_id)
        account.status = AccountStatus.RETIRED
        world.session.flush()
        with pytest.raises(forecasts.ForecastCampaignEmpty):
            forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        assert _count(world.session) == 0

    def test_accounts_bring_what_they_have_left(self, world: World, admin: Principal) -> None:
        from siyu.models import OperatorAccount

        campaign = world.campaign()
        world.participant(campaign)  # one add today, one seat taken
        account = world.session.get_one(OperatorAccount, world.account_id)
        plan = forecasts.draft_from_campaign(world.session, campaign, reach=10)
        (only,) = plan.accounts
        assert only.adds_per_day == 500
        assert only.adds_left_today == 499
        assert only.seats_left == account.max_friends - 1

    def test_unknown_campaign(self, world: World, admin: Principal) -> None:
        with pytest.raises(CampaignNotFound):
            forecasts.create_forecast(world.session, admin, 999_999, SMALL)
        assert _count(world.session) == 0


class TestVisibility:
    def test_merchants_see_only_what_they_sponsor(
        self, world: World, admin: Principal, make_user: Any
    ) -> None:
        from siyu.catalog import service as catalog
        from siyu.catalog.schemas import MerchantCreate

        mine = catalog.create_merchant(world.session, None, MerchantCreate(name="箱包旗舰店"))
        other = catalog.create_merchant(world.session, None, MerchantCreate(name="别家"))
        campaign = world.campaign(sponsor_merchant_id=mine.id)
        forecast = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        world.session.commit()
        sponsor: Principal = make_user(Role.MERCHANT, "sponsor", merchant_id=mine.id)
        stranger: Principal = make_user(Role.MERCHANT, "stranger", merchant_id=other.id)
        assert forecasts.get_forecast(world.session, sponsor, forecast.id).id == forecast.id
        assert [f.id for f in forecasts.list_forecasts(world.session, sponsor)] == [forecast.id]
        with pytest.raises(forecasts.ForecastNotFound):
            forecasts.get_forecast(world.session, stranger, forecast.id)
        assert list(forecasts.list_forecasts(world.session, stranger)) == []
        with pytest.raises(CampaignNotFound):
            forecasts.create_forecast(world.session, stranger, campaign.id, SMALL)


class TestVersusActual:
    def test_no_data_yet(self, world: World, admin: Principal) -> None:
        campaign = world.campaign()
        forecast = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        comparison = forecasts.forecast_vs_actual(world.session, admin, forecast.id)
        assert comparison.has_data is False
        assert [row.actual for row in comparison.days[0].rows] == [0, 0, 0, 0, 0]

    def test_actual_figures_are_the_analytics(self, world: World, admin: Principal) -> None:
        campaign = world.campaign()
        forecast = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        participant = world.participant(campaign)
        world.invite(participant)
        comparison = forecasts.forecast_vs_actual(world.session, admin, forecast.id)
        assert comparison.has_data
        today = {row.metric: row.actual for row in comparison.days[-1].rows}
        assert today == {"scans": 2, "adds": 2, "participants": 1, "verified": 1, "rewards": 0}
        totals = {row.metric: row for row in comparison.totals}
        assert totals["verified"].actual == 1
        assert totals["k_hundredths"].actual == 100
        assert totals["adds"].inside == rules.inside(2, forecast.results["totals"]["adds"])


class TestFirstDay:
    def test_the_first_day_is_the_campaign_start_unless_given(
        self, world: World, admin: Principal
    ) -> None:
        from datetime import UTC, datetime

        campaign = world.campaign()
        default = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        assert default.starts_at == campaign.starts_at
        moment = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
        params = forecasts.ForecastParams(**{**SMALL.__dict__, "starts_at": moment})
        assert forecasts.create_forecast(world.session, admin, campaign.id, params).starts_at == (
            moment
        )


class TestWarningTexts:
    def test_districts_by_name(self, world: World, admin: Principal) -> None:
        campaign = world.campaign()
        forecast = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        forecast.results = {
            **forecast.results,
            "warnings": [
                {
                    "kind": "stock",
                    "tier": "拉杆箱",
                    "district": GANZHOU,
                    "share_bp": 6000,
                    "median_day": 3,
                },
                {
                    "kind": "stock",
                    "tier": "拉杆箱",
                    "district": "999999",
                    "share_bp": 100,
                    "median_day": 4,
                },
            ],
        }
        assert forecasts.warning_texts(forecast) == [
            "预计第 4 天奖励“拉杆箱”（江西省赣州市章贡区）库存发完（60% 的模拟）",
            "预计第 5 天奖励“拉杆箱”（999999）库存发完（1% 的模拟）",
        ]


class TestPlaces:
    def test_without_district_stock_the_entry_code_regions(
        self, world: World, admin: Principal
    ) -> None:
        from siyu.models import ChannelCode, OperatorAccount
        from tests.campaigns.conftest import tiers

        code = world.session.get_one(ChannelCode, world.entry_id)
        code.rule = {**code.rule, "city_codes": ["360700"]}
        world.session.get_one(OperatorAccount, world.account_id).city_code = "360700"
        world.session.flush()
        campaign = world.campaign(tiers=tiers(districts=[]))
        plan = forecasts.draft_from_campaign(world.session, campaign, reach=10)
        assert plan.places == ("360700",)
        forecast = forecasts.create_forecast(world.session, admin, campaign.id, SMALL)
        assert forecast.draft["places"] == ["360700"]

    def test_without_either_everywhere(self, world: World, admin: Principal) -> None:
        from tests.campaigns.conftest import tiers

        campaign = world.campaign(tiers=tiers(districts=[]))
        assert forecasts.draft_from_campaign(world.session, campaign, reach=10).places == ()
