"""The analytics JSON API, console pages (charts, tables, CSV) and who may see them."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

from siyu.auth.principal import Principal
from siyu.models import Role
from tests.analytics.conftest import ZHANGGONG, Scene
from tests.conftest import ConsoleClient


class TestFunnelApi:
    def test_figures(self, api_as: Any, admin: Principal, scene: Scene) -> None:
        response = api_as(admin).get(f"/api/v1/analytics/campaigns/{scene.campaign_id}/funnel")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["name"], body["status"], body["scans"]) == ("免费领取拉杆箱", "running", 11)
        assert [(s["key"], s["count"]) for s in body["steps"]][:3] == [
            ("scanners", 9),
            ("added", 7),
            ("participants", 4),
        ]
        assert body["steps"][1]["of_previous"] == "0.78"
        assert body["k"] == {
            "participants": 4,
            "invites": 5,
            "verified_invites": 3,
            "invites_per_participant": "1.25",
            "invite_conversion": "0.60",
            "k_factor": "0.75",
        }
        assert (body["reward_cost_fen"], body["cost_per_contact_fen"]) == (7000, 1000)
        district = body["districts"][0]
        assert (district["key"], district["label"], district["scans"]) == (
            ZHANGGONG,
            "江西省赣州市章贡区",
            None,
        )
        account = next(a for a in body["accounts"] if a["label"] == "活动号1")
        assert (account["scans"], account["scanners"], account["cost_per_contact_fen"]) == (
            6,
            5,
            1500,
        )

    def test_days(self, api_as: Any, admin: Principal, scene: Scene) -> None:
        body = api_as(admin).get(f"/api/v1/analytics/campaigns/{scene.campaign_id}/funnel").json()
        assert [day["day"] for day in body["days"]] == [
            "2026-11-10",
            "2026-11-11",
            "2026-11-12",
            "2026-11-13",
        ]
        assert body["days"][1] == {
            "day": "2026-11-11",
            "scans": 9,
            "added": 6,
            "participants": 4,
            "verified": 3,
            "rewards": 3,
        }

    def test_csv(self, api_as: Any, admin: Principal, scene: Scene) -> None:
        response = api_as(admin).get(f"/api/v1/analytics/campaigns/{scene.campaign_id}/funnel.csv")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["content-disposition"]
        assert response.text.startswith("\ufeff环节,人数")

    def test_unknown_table(self, api_as: Any, admin: Principal, scene: Scene) -> None:
        response = api_as(admin).get(f"/api/v1/analytics/campaigns/{scene.campaign_id}/people.csv")
        assert response.status_code == 422
        assert response.json()["error"] == "analytics_table_unknown"

    def test_other_merchant_gets_404(self, api_as: Any, make_user: Any, scene: Scene) -> None:
        other = make_user(Role.MERCHANT, "other", merchant_id=scene.other_merchant_id)
        response = api_as(other).get(f"/api/v1/analytics/campaigns/{scene.campaign_id}/funnel")
        assert response.status_code == 404
        assert response.json()["error"] == "campaign_not_found"

    def test_sponsor_gets_its_own(self, api_as: Any, make_user: Any, scene: Scene) -> None:
        brand = make_user(Role.MERCHANT, "brand", merchant_id=scene.sponsor_id)
        response = api_as(brand).get(f"/api/v1/analytics/campaigns/{scene.campaign_id}/funnel")
        assert response.status_code == 200

    def test_anonymous(self, client: ConsoleClient, scene: Scene) -> None:
        response = client.get(f"/api/v1/analytics/campaigns/{scene.campaign_id}/funnel")
        assert response.status_code == 401


def chart_spec(html: str, chart_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{chart_id}"[^>]*data-siyu-chart="([^"]+)"', html, re.S)
    assert match, f"no chart {chart_id}"
    spec: dict[str, Any] = json.loads(unescape(match.group(1)))
    return spec


class TestPages:
    def test_campaign_page(self, client: ConsoleClient, admin: Principal, scene: Scene) -> None:
        client.login("admin")
        page = client.get(f"/console/analytics/campaigns/{scene.campaign_id}")
        assert page.status_code == 200
        html = page.text
        assert "/static/vendor/echarts.min.js" in html
        assert "/static/charts.js" in html
        funnel = chart_spec(html, "chart-funnel")
        assert funnel["kind"] == "funnel"
        assert funnel["categories"][:2] == ["扫码", "添加好友"]
        assert funnel["series"] == [{"name": "人数", "data": [9, 7, 4, 3, 2, 1, 1, 1]}]
        districts = chart_spec(html, "chart-districts")
        assert districts["categories"] == ["江西省赣州市章贡区", "未填写", "浙江省杭州市西湖区"]
        assert districts["series"][0] == {"name": "参与人数", "data": [2, 1, 1]}
        days = chart_spec(html, "chart-days")
        assert (days["kind"], days["categories"]) == ("line", ["11-10", "11-11", "11-12", "11-13"])
        assert days["series"][0] == {"name": "扫码次数", "data": [1, 9, 0, 1]}
        accounts = chart_spec(html, "chart-accounts")
        assert accounts["kind"] == "hbar"
        assert 'data-testid="kpi-k">0.75<' in html
        assert 'data-testid="kpi-cost-per-contact">¥10.00<' in html
        assert 'data-testid="kpi-cost">¥70.00<' in html
        for table in ("funnel", "districts", "accounts", "days"):
            assert f"/console/analytics/campaigns/{scene.campaign_id}/{table}.csv" in html

    def test_csv_download(self, client: ConsoleClient, admin: Principal, scene: Scene) -> None:
        client.login("admin")
        response = client.get(f"/console/analytics/campaigns/{scene.campaign_id}/districts.csv")
        assert response.status_code == 200
        assert response.text.splitlines()[1].startswith("360702,江西省赣州市章贡区,2,")

    def test_list_page(self, client: ConsoleClient, make_user: Any, scene: Scene) -> None:
        make_user(Role.MERCHANT, "brand", merchant_id=scene.sponsor_id)
        client.login("brand")
        page = client.get("/console/analytics/campaigns")
        assert page.status_code == 200
        assert "免费领取拉杆箱" in page.text
        assert "别的活动" not in page.text

    def test_merchant_cannot_open_another_campaign(
        self, client: ConsoleClient, make_user: Any, scene: Scene
    ) -> None:
        make_user(Role.MERCHANT, "brand", merchant_id=scene.sponsor_id)
        client.login("brand")
        assert (
            client.get(f"/console/analytics/campaigns/{scene.other_campaign_id}").status_code == 404
        )
        response = client.get(f"/console/analytics/campaigns/{scene.other_campaign_id}/funnel.csv")
        assert response.status_code == 404

    def test_promoter_cannot_list(
        self, client: ConsoleClient, make_promoter: Any, scene: Scene
    ) -> None:
        make_promoter("甲", 1)
        client.login("13800000001")
        assert client.get("/console/analytics/campaigns").status_code == 403

    def test_empty_campaign_draws_empty_charts(
        self, client: ConsoleClient, admin: Principal, scene: Scene
    ) -> None:
        client.login("admin")
        page = client.get(f"/console/analytics/campaigns/{scene.empty_campaign_id}")
        assert page.status_code == 200
        assert chart_spec(page.text, "chart-districts")["categories"] == []
        assert 'data-testid="kpi-k">—<' in page.text
