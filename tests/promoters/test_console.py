"""Console promoter list (search, filters), create form, detail with binding history."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from siyu.db import Database
from siyu.models import AuditEvent, Promoter, PromoterKind, Role, User
from tests.conftest import PASSWORD, ConsoleClient, count_rows
from tests.promoters.conftest import MadePromoter, audit_events, inviter_of, phone_for

Make = Callable[..., MadePromoter]


ROW_LINK = re.compile(r'<a href="/console/promoters/(\d+)">[^<]+</a></td>\s*<td class="small">138')


def listed_ids(html: str) -> list[int]:
    """Promoter ids in the list table, in display order."""
    return [int(found) for found in ROW_LINK.findall(html)]


class TestPromoterList:
    def test_lists_with_masked_phones_newest_first(
        self, client: ConsoleClient, admin: Any, make_promoter: Make
    ) -> None:
        first = make_promoter("王小明", 1)
        second = make_promoter("李四", 2, inviter=first)
        client.login("admin")
        page = client.get("/console/promoters")
        assert page.status_code == 200
        assert listed_ids(page.text) == [second.id, first.id]
        assert "138****0001" in page.text
        assert "13800000001" not in page.text

    def test_search_by_full_phone_uses_blind_index(
        self, client: ConsoleClient, admin: Any, make_promoter: Make
    ) -> None:
        make_promoter("王小明", 1)
        target = make_promoter("李四", 2)
        client.login("admin")
        assert listed_ids(client.get("/console/promoters?q=138 0000 0002").text) == [target.id]
        # A partial number matches nobody: phones are only stored encrypted.
        assert listed_ids(client.get("/console/promoters?q=0002").text) == []

    def test_search_by_name_and_filters(
        self, client: ConsoleClient, admin: Any, api_as: Any, make_promoter: Make
    ) -> None:
        wang = make_promoter("王小明", 1)
        li = make_promoter("李四", 2, kind=PromoterKind.COURIER)
        wang_wu = make_promoter("王五", 3)
        api_as(admin).post(f"/api/v1/promoters/{wang.id}/freeze", json={"reason": "刷单"})
        client.login("admin")
        assert len(listed_ids(client.get("/console/promoters?q=王").text)) == 2
        assert listed_ids(client.get("/console/promoters?status=frozen").text) == [wang.id]
        assert listed_ids(client.get("/console/promoters?kind=courier").text) == [li.id]
        active_wang = client.get("/console/promoters?q=王&status=active").text
        assert listed_ids(active_wang) == [wang_wu.id]

    def test_grade_filter(
        self, client: ConsoleClient, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        from siyu.models import PromoterGrade

        first = make_promoter("王小明", 1)
        make_promoter("李四", 2)
        with database.sessions() as session:
            gold = session.query(PromoterGrade).filter_by(code="gold").one()
            promoter = session.get(Promoter, first.id)
            assert promoter is not None
            promoter.grade_id = gold.id
            session.commit()
            gold_id = gold.id
        client.login("admin")
        page = client.get(f"/console/promoters?grade_id={gold_id}")
        assert listed_ids(page.text) == [first.id]
        assert 'href="?page=' not in page.text  # one page only

    def test_promoter_cannot_open_list(self, client: ConsoleClient, make_promoter: Make) -> None:
        me = make_promoter("王小明", 1)
        client.login(me.phone)
        response = client.get("/console/promoters")
        assert response.status_code == 403

    def test_api_list_with_filters(self, api_as: Any, admin: Any, make_promoter: Make) -> None:
        make_promoter("王小明", 1)
        li = make_promoter("李四", 2, kind=PromoterKind.COURIER)
        api = api_as(admin)
        body = api.get("/api/v1/promoters", params={"q": phone_for(2)}).json()
        assert [item["id"] for item in body["items"]] == [li.id]
        assert body["items"][0]["phone_masked"] == "138****0002"
        assert body["total"] == 1
        assert api.get("/api/v1/promoters", params={"kind": "courier"}).json()["total"] == 1
        assert api.get("/api/v1/promoters", params={"status": "frozen"}).json()["total"] == 0


class TestCreatePromoterInConsole:
    def test_creates_promoter_and_login_bound_to_inviter(
        self, client: ConsoleClient, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        inviter = make_promoter("王小明", 1)
        client.login("admin")
        response = client.submit(
            "/console/promoters",
            {
                "name": "快递小哥",
                "phone": phone_for(2),
                "password": PASSWORD,
                "kind": "courier",
                "region": "成都市武侯区",
                "invite_code": inviter.invite_code,
            },
        )
        assert response.status_code == 303
        created_id = int(response.headers["location"].rsplit("/", 1)[1])
        detail = client.get(response.headers["location"])
        assert "已创建推手 快递小哥" in detail.text
        assert "成都市武侯区" in detail.text
        assert inviter_of(database, created_id) == inviter.id
        with database.sessions() as session:
            promoter = session.get(Promoter, created_id)
            assert promoter is not None
            assert promoter.kind == PromoterKind.COURIER
        [created] = [
            event
            for event in audit_events(database, "promoter.created")
            if event.object_id == created_id
        ]
        assert created.actor_user_id == admin.user_id
        assert created.detail == {"source": "admin", "inviter_id": inviter.id}
        history = client.get(f"/console/promoters/{created_id}").text
        assert "平台创建" in history
        promoter_client = ConsoleClient(client.app, base_url="http://testserver")
        assert promoter_client.login(phone_for(2)).headers["location"] == "/h5/me"

    def test_refusal_flashes_and_creates_nothing(
        self, client: ConsoleClient, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        make_promoter("王小明", 1)
        client.login("admin")
        before = (
            count_rows(database, Promoter),
            count_rows(database, User),
            count_rows(database, AuditEvent),
        )
        response = client.submit(
            "/console/promoters", {"name": "重复", "phone": phone_for(1), "password": PASSWORD}
        )
        assert response.status_code == 303
        assert "创建失败：该手机号已注册为推手" in client.get("/console/promoters").text
        after = (
            count_rows(database, Promoter),
            count_rows(database, User),
            count_rows(database, AuditEvent),
        )
        assert after == before

    def test_merchant_cannot_create(
        self, api_as: Any, client: ConsoleClient, make_user: Any, database: Database
    ) -> None:
        from siyu.models import Merchant

        with database.sessions() as session:
            merchant = Merchant(name="品牌方")
            session.add(merchant)
            session.commit()
            merchant_id = merchant.id
        make_user(Role.MERCHANT, "brand", merchant_id=merchant_id)
        client.login("brand")
        response = client.submit(
            "/console/promoters", {"name": "甲", "phone": phone_for(1), "password": PASSWORD}
        )
        assert response.status_code == 403
        assert "您没有执行此操作的权限" in response.text
        assert count_rows(database, Promoter) == 0


class TestDetailPage:
    def test_binding_history_lists_each_change(
        self,
        client: ConsoleClient,
        admin: Any,
        api_as: Any,
        settings: Any,
        make_promoter: Make,
    ) -> None:
        settings.binding_mode = "override"
        first = make_promoter("王小明", 1)
        second = make_promoter("赵六", 2)
        member = make_promoter("李四", 3, inviter=first)
        api_as(member.principal).post(
            "/api/v1/promoters/me/bind", json={"invite_code": second.invite_code}
        )
        client.login("admin")
        page = client.get(f"/console/promoters/{member.id}").text
        history = page[page.index('data-testid="binding-history"') :]
        rows = re.findall(
            r'<tr>\s*<td class="small">[^<]+</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', history
        )
        assert rows == [("王小明", "赵六"), ("—", "王小明")]
        assert "推手自助绑定" in history
        assert "后绑定覆盖" in history
        assert f'data-testid="inviter"><a href="/console/promoters/{second.id}">赵六' in page

    def test_unknown_promoter_is_404(self, client: ConsoleClient, admin: Any) -> None:
        client.login("admin")
        response = client.get("/console/promoters/999")
        assert response.status_code == 404
        assert "找不到该推手" in response.text
