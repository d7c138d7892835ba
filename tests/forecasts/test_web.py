"""The forecasts JSON API and console pages: form, result (bands, tables, warnings, CSV),
forecast vs actual, errors in English (API) and Chinese (console), who may see what."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.forecasts import service as forecasts
from siyu.models import Role
from siyu.models.forecasts import CampaignForecast
from tests.campaigns.conftest import World
from tests.conftest import ConsoleClient

SMALL = {"reach": 200, "days": 3, "runs": 4, "market_size": 800}


def _rows(database: Database) -> int:
    with database.sessions() as session:
        return int(session.scalar(select(func.count(CampaignForecast.id))) or 0)


CAMPAIGNS: dict[int, int] = {}


@pytest.fixture
def scene(session: Session, admin: Principal) -> World:
    world = World(session, admin).setup()
    CAMPAIGNS[id(world)] = world.campaign().id
    session.commit()  # the app's requests need the SQLite write lock
    return world


def _campaign_id(world: World) -> int:
    return CAMPAIGNS[id(world)]


class TestApi:
    def test_create_read_list_compare(self, api_as: Any, admin: Principal, scene: World) -> None:
        client = api_as(admin)
        campaign_id = _campaign_id(scene)
        response = client.post("/api/v1/forecasts", json={"campaign_id": campaign_id, **SMALL})
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["campaign_id"], body["runs"], body["days"]) == (campaign_id, 4, 3)
        assert len(body["results"]["days"]) == 3
        assert set(body["results"]["totals"]) >= {"adds", "k_hundredths", "cost_per_contact_fen"}
        forecast_id = body["id"]
        assert client.get(f"/api/v1/forecasts/{forecast_id}").json()["id"] == forecast_id
        listed = client.get(f"/api/v1/forecasts?campaign_id={campaign_id}").json()
        assert [f["id"] for f in listed] == [forecast_id]
        actual = client.get(f"/api/v1/forecasts/{forecast_id}/actual").json()
        assert actual["has_data"] is False
        assert [row["metric"] for row in actual["days"][0]["rows"]] == [
            "scans",
            "adds",
            "participants",
            "verified",
            "rewards",
        ]

    @pytest.mark.parametrize(
        ("values", "code"),
        [
            ({"reach": 0}, "forecast_reach_invalid"),
            ({"runs": 1001}, "forecast_runs_invalid"),
            ({"days": 61}, "forecast_days_invalid"),
        ],
    )
    def test_bad_input_is_422_and_saves_nothing(
        self,
        api_as: Any,
        admin: Principal,
        scene: World,
        database: Database,
        values: dict[str, int],
        code: str,
    ) -> None:
        payload = {"campaign_id": _campaign_id(scene), **SMALL, **values}
        response = api_as(admin).post("/api/v1/forecasts", json=payload)
        assert response.status_code == 422
        assert response.json()["error"] == code
        assert _rows(database) == 0

    def test_unknown_campaign_is_404(
        self, api_as: Any, admin: Principal, scene: World, database: Database
    ) -> None:
        response = api_as(admin).post("/api/v1/forecasts", json={"campaign_id": 424242, **SMALL})
        assert response.status_code == 404
        assert response.json()["error"] == "campaign_not_found"
        assert _rows(database) == 0

    def test_unknown_forecast_is_404(self, api_as: Any, admin: Principal, scene: World) -> None:
        response = api_as(admin).get("/api/v1/forecasts/999")
        assert response.status_code == 404
        assert response.json()["error"] == "forecast_not_found"

    def test_a_merchant_without_the_campaign_sees_nothing(
        self, api_as: Any, make_user: Any, admin: Principal, scene: World
    ) -> None:
        from siyu.catalog import service as catalog
        from siyu.catalog.schemas import MerchantCreate

        merchant = catalog.create_merchant(scene.session, None, MerchantCreate(name="别家"))
        scene.session.commit()
        forecast = forecasts.create_forecast(
            scene.session,
            admin,
            _campaign_id(scene),
            forecasts.ForecastParams(reach=100, days=2, runs=2, market_size=500),
        )
        scene.session.commit()
        brand: Principal = make_user(Role.MERCHANT, "brand", merchant_id=merchant.id)
        client = api_as(brand)
        assert client.get(f"/api/v1/forecasts/{forecast.id}").status_code == 404
        assert client.get("/api/v1/forecasts").json() == []


class TestConsole:
    def test_form_result_and_csv(
        self, client: ConsoleClient, admin: Principal, scene: World, database: Database
    ) -> None:
        client.login("admin")
        campaign_id = _campaign_id(scene)
        detail = client.get(f"/console/campaigns/{campaign_id}")
        assert f'href="/console/campaigns/{campaign_id}/forecast"' in detail.text
        analytics = client.get(f"/console/analytics/campaigns/{campaign_id}")
        assert f'href="/console/campaigns/{campaign_id}/forecast"' in analytics.text
        form = client.get(f"/console/campaigns/{campaign_id}/forecast")
        assert form.status_code == 200
        assert "开始预测" in form.text
        assert "还没有预测" in form.text
        created = client.submit(
            f"/console/campaigns/{campaign_id}/forecast", {k: str(v) for k, v in SMALL.items()}
        )
        assert created.status_code == 303, created.text
        location = created.headers["location"]
        assert location.startswith("/console/forecasts/")
        page = client.get(location)
        assert page.status_code == 200
        for marker in ("预警", 'data-testid="chart-adds"', 'data-testid="table-days"', "K 值"):
            assert marker in page.text
        assert "forecast-no-actual" in page.text
        for table in ("days", "totals", "tiers", "warnings"):
            csv = client.get(f"{location}/{table}.csv")
            assert csv.status_code == 200
            assert csv.text.startswith("\ufeff")
        totals = client.get(f"{location}/totals.csv").text
        assert "新增好友" in totals
        assert client.get(f"{location}/other.csv").status_code == 422
        assert _rows(database) == 1
        listed = client.get(f"/console/campaigns/{campaign_id}/forecast")
        assert f'href="{location}"' in listed.text

    def test_bad_input_shows_chinese_and_saves_nothing(
        self, client: ConsoleClient, admin: Principal, scene: World, database: Database
    ) -> None:
        client.login("admin")
        url = f"/console/campaigns/{_campaign_id(scene)}/forecast"
        response = client.submit(url, {**{k: str(v) for k, v in SMALL.items()}, "runs": "0"})
        assert response.status_code == 422
        assert "模拟次数必须在 1 到 1000 之间" in response.text
        response = client.submit(url, {**{k: str(v) for k, v in SMALL.items()}, "reach": "很多"})
        assert response.status_code == 422
        assert "曝光人数必须是整数" in response.text
        assert _rows(database) == 0

    def test_forecast_vs_actual_once_the_campaign_has_data(
        self, client: ConsoleClient, admin: Principal, scene: World
    ) -> None:
        from siyu.models.campaigns import Campaign

        campaign = scene.session.get_one(Campaign, _campaign_id(scene))
        forecast = forecasts.create_forecast(
            scene.session,
            admin,
            campaign.id,
            forecasts.ForecastParams(reach=100, days=2, runs=3, market_size=500),
        )
        participant = scene.participant(campaign)
        scene.invite(participant)
        scene.session.commit()
        client.login("admin")
        page = client.get(f"/console/forecasts/{forecast.id}")
        assert 'data-testid="forecast-vs-actual"' in page.text
        assert 'data-testid="actual-adds-0"' in page.text
        assert "实际 2" in page.text


class TestListPage:
    def test_lists_campaigns_and_forecasts(
        self, client: ConsoleClient, admin: Principal, scene: World
    ) -> None:
        forecast = forecasts.create_forecast(
            scene.session,
            admin,
            _campaign_id(scene),
            forecasts.ForecastParams(reach=100, days=2, runs=2, market_size=500),
        )
        scene.session.commit()
        client.login("admin")
        page = client.get("/console/forecasts")
        assert page.status_code == 200
        assert f'href="/console/campaigns/{_campaign_id(scene)}/forecast"' in page.text
        assert f'href="/console/forecasts/{forecast.id}"' in page.text

    def test_promoters_may_not_open_it(
        self, client: ConsoleClient, make_promoter: Any, scene: World
    ) -> None:
        promoter = make_promoter("甲", 1)
        client.login(promoter.principal.username)
        assert client.get("/console/forecasts").status_code == 403
