"""The dashboards' JSON API, console pages (charts, tables, filters), CSV/XLSX exports and who
may open them, on the scene of test_dashboard.py."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from siyu.auth.principal import Principal
from siyu.kit.time import travel_to
from siyu.models import Role
from siyu.web.nav import console_nav
from tests.analytics.test_api import chart_spec
from tests.analytics.test_dashboard import END, NOW, START, Scene, scene  # noqa: F401  (fixture)
from tests.catalog.conftest import catalog  # noqa: F401  (fixture)
from tests.conftest import ConsoleClient
from tests.promoters.conftest import make_promoter  # noqa: F401  (fixture)

RANGE_QUERY = f"start={START}&end={END}"


class TestApi:
    def test_sales(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        response = api_as(admin).get(f"/api/v1/analytics/dashboards/sales?{RANGE_QUERY}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["filters"] == {
            "start": START,
            "end": END,
            "merchant_id": None,
            "channel": None,
        }
        assert body["total"] == {"gmv_fen": 22000, "orders": 4, "new_consumers": 7}
        assert (body["commission_fen"], body["commission_share"]) == (1600, "0.07")
        assert body["lower_tier_share"] == "0.43"
        broadcast = next(row for row in body["channels"] if row["channel"] == "broadcast")
        assert broadcast == {
            "gmv_fen": 8000,
            "orders": 1,
            "new_consumers": 0,
            "channel": "broadcast",
            "label": "群发",
        }
        assert body["days"][1]["day"] == "2026-11-02"
        assert body["days"][1]["channels"]["broadcast"]["gmv_fen"] == 8000
        assert [
            (m["name"], m["commission_fen"], m["commission_share"]) for m in body["merchants"]
        ] == [
            ("行者箱包", 1300, "0.09"),
            ("鲜丰果园", 300, "0.04"),
        ]
        assert body["tiers"][-1] == {"label": "未知", "new_consumers": 2, "share": "0.29"}

    def test_promoters(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        body = api_as(admin).get(f"/api/v1/analytics/dashboards/promoters?{RANGE_QUERY}").json()
        first = body["promoters"][0]
        assert (first["name"], first["own"]["commission_fen"], first["team"]["gmv_fen"]) == (
            "甲推手",
            930,
            16000,
        )
        assert first["recruit_ids"] == [scene.promoter_b.id]

    def test_cohorts_and_fleet(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        client = api_as(admin)
        with travel_to(NOW):
            cohorts = client.get(f"/api/v1/analytics/dashboards/cohorts?{RANGE_QUERY}").json()
        assert cohorts["cohorts"] == [
            {
                "week": "2026-11-02",
                "consumers": 3,
                "returned": [1, 1, 0, 0, 0, 0, 0, 0],
                "rates": ["0.33", "0.33", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"],
            }
        ]
        fleet = client.get("/api/v1/analytics/dashboards/fleet").json()
        assert (fleet["friends"], fleet["by_status"]["restricted"]) == (10, 1)

    def test_bad_date(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        response = api_as(admin).get("/api/v1/analytics/dashboards/sales?start=2026-11-31")
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "dashboard_date_invalid"
        assert body["detail"] == "start must be a date like 2026-11-11 (got '2026-11-31')."

    def test_reversed_range(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        response = api_as(admin).get(
            "/api/v1/analytics/dashboards/promoters?start=2026-11-08&end=2026-11-01"
        )
        assert (response.status_code, response.json()["error"]) == (422, "dashboard_range_invalid")

    def test_merchant_scope(self, api_as: Any, make_user: Any, scene: Scene) -> None:  # noqa: F811
        shop = make_user(Role.MERCHANT, "shop", merchant_id=scene.merchant_2)
        client = api_as(shop)
        query = f"{RANGE_QUERY}&merchant_id={scene.merchant_1}"
        body = client.get(f"/api/v1/analytics/dashboards/sales?{query}").json()
        assert body["filters"]["merchant_id"] == scene.merchant_2
        assert (body["total"]["gmv_fen"], body["commission_fen"], body["tiers"]) == (
            7000,
            300,
            None,
        )
        days = client.get(f"/api/v1/analytics/dashboards/sales/days.csv?{RANGE_QUERY}")
        lines = days.content.decode("utf-8-sig").splitlines()
        assert lines[0] == (
            "日期,GMV（元）,订单数,群发GMV（元）,群发订单数,推手链接GMV（元）,推手链接订单数,"
            "推手绑定GMV（元）,推手绑定订单数,自然GMV（元）,自然订单数"
        )
        assert lines[2] == "2026-11-02,30.00,1,0.00,0,0.00,0,30.00,1,0.00,0"
        assert client.get("/api/v1/analytics/dashboards/promoters").status_code == 403
        assert client.get("/api/v1/analytics/dashboards/fleet").status_code == 403

    def test_anonymous(self, client: ConsoleClient) -> None:
        assert client.get("/api/v1/analytics/dashboards/sales").status_code == 401


class TestExport:
    def test_csv(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        response = api_as(admin).get(
            f"/api/v1/analytics/dashboards/sales/merchants.csv?{RANGE_QUERY}"
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == (
            'attachment; filename="sales-merchants-2026-11-01-2026-11-07.csv"'
        )
        assert response.content.startswith("\ufeff".encode())
        assert response.content.decode("utf-8-sig").splitlines() == [
            "商家,GMV（元）,订单数,佣金成本（元）,佣金/GMV",
            "行者箱包,150.00,3,13.00,8.7%",
            "鲜丰果园,70.00,2,3.00,4.3%",
        ]

    def test_xlsx(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        response = api_as(admin).get(f"/api/v1/analytics/dashboards/sales/days.xlsx?{RANGE_QUERY}")
        assert response.status_code == 200
        assert response.headers["content-type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert sheet.title == "每日趋势"
        assert rows[0][:4] == ("日期", "GMV（元）", "订单数", "新增顾客")
        assert len(rows) == 8
        assert rows[2][:4] == ("2026-11-02", 160, 2, 2)
        assert rows[3][:4] == ("2026-11-03", 40, 1, 2)

    def test_every_table(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        client = api_as(admin)
        for board, tables in {
            "sales": ("days", "channels", "tiers", "merchants"),
            "promoters": ("promoters",),
            "cohorts": ("cohorts",),
            "fleet": ("accounts",),
        }.items():
            for table in tables:
                for fmt in ("csv", "xlsx"):
                    url = f"/api/v1/analytics/dashboards/{board}/{table}.{fmt}?{RANGE_QUERY}"
                    assert client.get(url).status_code == 200, url

    def test_unknown_table(self, api_as: Any, admin: Principal, scene: Scene) -> None:  # noqa: F811
        client = api_as(admin)
        for url in ("sales/promoters.csv", "sales/days.pdf", "nope/days.csv"):
            response = client.get(f"/api/v1/analytics/dashboards/{url}")
            assert response.status_code == 404, url
            assert response.json()["error"] == "dashboard_table_unknown"

    def test_promoter_leaderboard_export_is_scoped(self, api_as: Any, scene: Scene) -> None:  # noqa: F811
        client = api_as(scene.promoter_b.principal)
        response = client.get(f"/api/v1/analytics/dashboards/promoters/promoters.csv?{RANGE_QUERY}")
        lines = response.content.decode("utf-8-sig").splitlines()
        assert [line.split(",")[0] for line in lines[1:]] == ["乙推手"]
        assert client.get("/api/v1/analytics/dashboards/sales/days.csv").status_code == 403


class TestPages:
    def test_sales_page(self, client: ConsoleClient, admin: Principal, scene: Scene) -> None:  # noqa: F811
        client.login("admin")
        page = client.get(f"/console/analytics/sales?{RANGE_QUERY}")
        assert page.status_code == 200
        html = page.text
        assert "/static/vendor/echarts.min.js" in html
        assert 'data-testid="kpi-gmv">¥220.00<' in html
        assert 'data-testid="kpi-orders">4<' in html
        assert 'data-testid="kpi-new-consumers">7<' in html
        assert 'data-testid="kpi-lower-tiers">42.9%<' in html
        assert 'data-testid="kpi-commission">¥16.00<' in html
        gmv = chart_spec(html, "chart-gmv")
        assert gmv["kind"] == "line"
        assert gmv["categories"][:3] == ["11-01", "11-02", "11-03"]
        assert gmv["series"][0] == {"name": "群发", "data": [0, 80, 0, 0, 0, 0, 0]}
        tiers = chart_spec(html, "chart-tiers")
        assert tiers["categories"] == ["一线", "新一线", "三线", "六线", "未知"]
        assert tiers["series"][0]["data"] == [1, 1, 2, 1, 2]
        merchants = chart_spec(html, "chart-merchants")
        assert merchants["categories"] == ["行者箱包", "鲜丰果园"]
        for table in ("days", "channels", "tiers", "merchants"):
            query = RANGE_QUERY.replace("&", "&amp;")
            assert f"/console/analytics/export/sales/{table}.csv?{query}" in html
            assert f"/console/analytics/export/sales/{table}.xlsx?{query}" in html
        assert 'href="/console/analytics/campaigns"' in html

    def test_bad_date_shows_chinese_message(
        self,
        client: ConsoleClient,
        admin: Principal,
        scene: Scene,  # noqa: F811
    ) -> None:
        client.login("admin")
        page = client.get("/console/analytics/sales?start=2026-99-01")
        assert page.status_code == 200
        assert "开始日期格式不对，请填写如 2026-11-11 的日期。已显示默认的最近 30 天。" in page.text

    def test_other_pages(self, client: ConsoleClient, admin: Principal, scene: Scene) -> None:  # noqa: F811
        client.login("admin")
        promoters = client.get(f"/console/analytics/promoters?{RANGE_QUERY}").text
        assert f'data-promoter="{scene.promoter_a.id}"' in promoters
        assert chart_spec(promoters, "chart-promoters")["categories"] == ["甲推手", "乙推手"]
        with travel_to(NOW):
            cohorts = client.get(f"/console/analytics/cohorts?{RANGE_QUERY}").text
        assert "2026-11-02" in cohorts
        assert "33.3%" in cohorts
        fleet = client.get("/console/analytics/fleet").text
        assert 'data-testid="kpi-friends">10<' in fleet
        assert chart_spec(fleet, "chart-fleet-status")["categories"] == ["正常", "受限"]

    def test_console_export(self, client: ConsoleClient, admin: Principal, scene: Scene) -> None:  # noqa: F811
        client.login("admin")
        response = client.get(f"/console/analytics/export/sales/channels.csv?{RANGE_QUERY}")
        assert response.status_code == 200
        assert response.content.decode("utf-8-sig").splitlines()[1] == "群发,80.00,1,0"

    def test_merchant_pages(self, client: ConsoleClient, make_user: Any, scene: Scene) -> None:  # noqa: F811
        make_user(Role.MERCHANT, "shop", merchant_id=scene.merchant_1)
        client.login("shop")
        page = client.get(f"/console/analytics/sales?{RANGE_QUERY}&merchant_id={scene.merchant_2}")
        assert page.status_code == 200
        assert 'data-testid="kpi-gmv">¥150.00<' in page.text
        assert "kpi-new-consumers" not in page.text
        assert "鲜丰果园" not in page.text
        assert 'href="/console/analytics/cohorts"' in page.text
        assert 'href="/console/analytics/promoters"' not in page.text
        assert client.get("/console/analytics/fleet").status_code == 403

    def test_promoter_page(self, client: ConsoleClient, scene: Scene) -> None:  # noqa: F811
        client.login(scene.promoter_a.principal.username)
        page = client.get(f"/console/analytics/promoters?{RANGE_QUERY}")
        assert page.status_code == 200
        assert "只显示您本人和您直接邀请的推手" in page.text
        assert f'data-promoter="{scene.promoter_b.id}"' in page.text
        assert 'href="/console/analytics/fleet"' in page.text
        assert 'href="/console/analytics/sales"' not in page.text
        assert client.get("/console/analytics/sales").status_code == 403


class TestNavLinks:
    def test_every_data_link_opens_for_each_role(
        self,
        client: ConsoleClient,
        make_user: Any,
        scene: Scene,  # noqa: F811
    ) -> None:
        make_user(Role.MERCHANT, "shop", merchant_id=scene.merchant_1)
        for role, username in (
            (Role.MERCHANT, "shop"),
            (Role.PROMOTER, scene.promoter_a.principal.username),
        ):
            client.login(username)
            links = dict(console_nav(role))["数据"]
            assert links
            for href, label in links:
                response = client.get(href)
                assert response.status_code == 200, (role, href)
                assert label in response.text
            client.submit("/logout")
