"""Region API: children for cascading selects, detail with tier, admins' tier corrections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.auth.principal import Principal
from siyu.config import Settings
from siyu.db import Database
from siyu.models import AuditEvent, Role
from siyu.models.regions import CityTierOverride
from siyu.regions import service
from siyu.regions.rules import CityTier
from tests.conftest import count_rows


class TestChildren:
    def test_provinces_without_parent_and_no_login_needed(self, client: TestClient) -> None:
        response = client.get("/api/v1/regions")
        assert response.status_code == 200
        body = response.json()
        assert len(body) == 31
        assert body[0] == {
            "code": "110000",
            "name": "北京市",
            "display_name": "北京市",
            "level": "province",
            "level_label": "省",
            "parent_code": None,
            "has_children": True,
            "tier": "tier_1",
            "tier_label": "一线",
        }

    def test_children_of_a_city(self, client: TestClient) -> None:
        body = client.get("/api/v1/regions", params={"parent": "330100"}).json()
        xihu = next(item for item in body if item["code"] == "330106")
        assert xihu["tier"] == "new_tier_1"
        assert xihu["has_children"] is False
        tonglu = next(item for item in body if item["code"] == "330122")
        assert tonglu["tier_label"] == "六线"

    def test_unknown_parent_is_422_with_chinese_message(self, client: TestClient) -> None:
        response = client.get("/api/v1/regions", params={"parent": "339900"})
        assert response.status_code == 422
        assert response.json()["error"] == "region_unknown"
        assert (
            response.json()["detail_zh"] == "地区编码“339900”不存在，请从省、市、区县列表中选择。"
        )

    def test_malformed_parent(self, client: TestClient) -> None:
        response = client.get("/api/v1/regions", params={"parent": "浙江"})
        assert response.status_code == 422
        assert response.json()["error"] == "region_code_invalid"


class TestDetail:
    def test_detail_has_path_and_full_name(self, client: TestClient) -> None:
        body = client.get("/api/v1/regions/330106").json()
        assert body["full_name"] == "浙江省杭州市西湖区"
        assert [item["code"] for item in body["path"]] == ["330000", "330100", "330106"]
        assert body["path"][0]["tier"] is None


class TestTierOverrides:
    def test_admin_corrects_a_tier_and_it_is_audited(
        self, api_as: Any, admin: Principal, database: Database, client: TestClient
    ) -> None:
        response = api_as(admin).put(
            "/api/v1/city-tiers/360600", json={"tier": "tier_3", "reason": "2024 榜单"}
        )
        assert response.status_code == 200
        assert response.json() == {"city_code": "360600", "name": "鹰潭市", "tier": "tier_3"}
        assert client.get("/api/v1/regions/360602").json()["tier"] == "tier_3"
        with database.sessions() as session:
            event = session.query(AuditEvent).filter_by(action="region.tier_overridden").one()
            assert event.detail == {"city_code": "360600", "before": None, "after": "tier_3"}
            assert event.reason == "2024 榜单"
        removed = api_as(admin).put("/api/v1/city-tiers/360600", json={"tier": None})
        assert removed.json()["tier"] == "tier_5"
        assert count_rows(database, CityTierOverride) == 0

    def test_operator_may_not_correct_tiers(
        self, api_as: Any, make_user: Any, database: Database
    ) -> None:
        operator = make_user(Role.OPERATOR, "ops")
        response = api_as(operator).put("/api/v1/city-tiers/360600", json={"tier": "tier_3"})
        assert response.status_code == 403
        assert count_rows(database, CityTierOverride) == 0
        assert count_rows(database, AuditEvent) == 0

    def test_a_province_takes_no_tier(
        self, api_as: Any, admin: Principal, database: Database
    ) -> None:
        response = api_as(admin).put("/api/v1/city-tiers/330000", json={"tier": "tier_3"})
        assert response.status_code == 422
        assert response.json()["error"] == "region_unknown"
        assert count_rows(database, CityTierOverride) == 0


class TestTierFile:
    def test_settings_file_overrides_the_shipped_table(
        self, settings: Settings, database: Database, tmp_path: Path
    ) -> None:
        path = tmp_path / "tiers.tsv"
        path.write_text("360600\t鹰潭市\t四线\n", encoding="utf-8")
        settings.city_tiers_path = path
        with database.sessions() as session:
            assert service.tier_of(session, "360602") == CityTier.TIER_4
            session.add(CityTierOverride(city_code="360600", tier="tier_2"))
            session.flush()
            assert service.tier_of(session, "360602") == CityTier.TIER_2  # DB rows win
            assert "360602" in service.codes_in_tiers(session, [CityTier.TIER_2])
        settings.city_tiers_path = None
        assert service.tier_of(None, "360602") == CityTier.TIER_5

    def test_unreadable_file_is_a_clear_error(self, settings: Settings, tmp_path: Path) -> None:
        settings.city_tiers_path = tmp_path / "missing.tsv"
        with pytest.raises(service.TierFileUnreadable) as error:
            service.tier_of(None, "360602")
        assert error.value.params["path"] == str(tmp_path / "missing.tsv")
        settings.city_tiers_path = None
