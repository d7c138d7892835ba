"""``siyu forecast``: prints the bands and warnings in Chinese, saves the forecast, compares."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from huey import MemoryHuey
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from siyu.auth.principal import Principal
from siyu.cli.main import app
from siyu.jobs import configure_queue
from siyu.models.forecasts import CampaignForecast
from tests.campaigns.conftest import World


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("SIYU_") and not key.startswith("SIYU_TEST_"):
            monkeypatch.delenv(key)
    yield
    configure_queue(MemoryHuey(name="siyu-test"))


def run(db_url: str, *arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"SIYU_DATABASE_URL": db_url})


def forecasts(url: str) -> list[tuple[int, int, int]]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(CampaignForecast.campaign_id, CampaignForecast.runs, CampaignForecast.days)
            )
            return [(row[0], row[1], row[2]) for row in rows]
    finally:
        engine.dispose()


@pytest.fixture
def campaign_id(session: Session, admin: Principal) -> int:
    world = World(session, admin).setup()
    campaign = world.campaign()
    session.commit()
    return campaign.id


class TestForecastCommand:
    def test_prints_bands_and_saves(self, db_url: str, campaign_id: int) -> None:
        result = run(
            db_url,
            "forecast",
            "--campaign",
            str(campaign_id),
            "--reach",
            "200",
            "--days",
            "3",
            "--runs",
            "5",
            "--market-size",
            "1000",
        )
        assert result.exit_code == 0, result.output
        assert "新增好友" in result.stdout
        assert "K 值" in result.stdout
        assert "已保存预测" in result.stdout
        assert forecasts(db_url) == [(campaign_id, 5, 3)]

    def test_compare_prints_forecast_and_actual(self, db_url: str, campaign_id: int) -> None:
        run(
            db_url,
            "forecast",
            "--campaign",
            str(campaign_id),
            "--runs",
            "3",
            "--days",
            "2",
            "--market-size",
            "500",
        )
        engine = create_engine(db_url)
        with Session(engine) as session:
            forecast_id = session.scalar(select(func.max(CampaignForecast.id)))
        engine.dispose()
        result = run(db_url, "forecast", "--compare", str(forecast_id))
        assert result.exit_code == 0, result.output
        assert "与实际" in result.stdout
        assert "活动还没有数据" in result.stdout

    def test_bad_input_is_refused_in_chinese_and_nothing_is_saved(
        self, db_url: str, campaign_id: int
    ) -> None:
        result = run(db_url, "forecast", "--campaign", str(campaign_id), "--runs", "0")
        assert result.exit_code == 1
        assert "模拟次数必须在 1 到 1000 之间" in result.output
        assert forecasts(db_url) == []

    def test_unknown_campaign(self, db_url: str, campaign_id: int) -> None:
        result = run(db_url, "forecast", "--campaign", str(campaign_id + 100), "--runs", "2")
        assert result.exit_code == 1
        assert "找不到该活动" in result.output
        assert forecasts(db_url) == []
