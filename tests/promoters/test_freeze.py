"""Freeze / unfreeze: admin only, reason required, audited; a frozen promoter cannot recruit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from siyu.db import Database
from siyu.models import AuditEvent, Promoter, PromoterBinding, PromoterStatus, Role, User
from tests.conftest import PASSWORD, ConsoleClient, count_rows
from tests.promoters.conftest import MadePromoter, audit_events, inviter_of, load, phone_for

Make = Callable[..., MadePromoter]


def freeze(api: Any, promoter_id: int, reason: str = "刷单嫌疑") -> Any:
    return api.post(f"/api/v1/promoters/{promoter_id}/freeze", json={"reason": reason})


class TestFreezeApi:
    def test_admin_freezes_with_reason_and_it_is_audited(
        self, api_as: Any, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        response = freeze(api_as(admin), target.id, "  刷单嫌疑  ")
        assert response.status_code == 200
        assert response.json()["status"] == "frozen"
        assert response.json()["frozen_reason"] == "刷单嫌疑"
        [event] = audit_events(database, "promoter.frozen")
        assert (event.actor_user_id, event.object_id, event.reason) == (
            admin.user_id,
            target.id,
            "刷单嫌疑",
        )

    def test_reason_is_required(
        self, api_as: Any, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        before = count_rows(database, AuditEvent)
        response = freeze(api_as(admin), target.id, "   ")
        assert response.status_code == 422
        assert response.json()["error"] == "reason_required"
        assert load(database, target.id).status == PromoterStatus.ACTIVE
        assert count_rows(database, AuditEvent) == before

    def test_operator_cannot_freeze(
        self, api_as: Any, make_user: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        operator = make_user(Role.OPERATOR, "ops")
        assert freeze(api_as(operator), target.id).status_code == 403
        assert load(database, target.id).status == PromoterStatus.ACTIVE

    def test_promoter_cannot_freeze_itself_or_others(
        self, api_as: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        assert freeze(api_as(target.principal), target.id).status_code == 403
        assert load(database, target.id).status == PromoterStatus.ACTIVE

    def test_freezing_twice_is_a_conflict(
        self, api_as: Any, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        api = api_as(admin)
        freeze(api, target.id)
        response = freeze(api, target.id)
        assert response.status_code == 409
        assert response.json()["error"] == "promoter_already_frozen"
        assert len(audit_events(database, "promoter.frozen")) == 1

    def test_unfreeze_restores_recruiting(
        self, api_as: Any, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        api = api_as(admin)
        freeze(api, target.id)
        response = api.post(f"/api/v1/promoters/{target.id}/unfreeze", json={"reason": "已核实"})
        assert response.status_code == 200
        assert response.json()["status"] == "active"
        assert response.json()["frozen_reason"] is None
        assert [e.reason for e in audit_events(database, "promoter.unfrozen")] == ["已核实"]
        recruit = make_promoter("李四", 2, inviter=target)
        assert inviter_of(database, recruit.id) == target.id

    def test_unfreezing_an_active_promoter_is_a_conflict(
        self, api_as: Any, admin: Any, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        response = api_as(admin).post(
            f"/api/v1/promoters/{target.id}/unfreeze", json={"reason": "误操作"}
        )
        assert response.status_code == 409
        assert response.json()["error"] == "promoter_not_frozen"


class TestFrozenPromoterCannotRecruit:
    def test_join_link_explains_and_signup_creates_nothing(
        self,
        client: ConsoleClient,
        api_as: Any,
        admin: Any,
        database: Database,
        make_promoter: Make,
    ) -> None:
        inviter = make_promoter("王小明", 1)
        freeze(api_as(admin), inviter.id)
        page = client.get(f"/join/{inviter.invite_code}")
        assert page.status_code == 409
        assert "邀请人的账号已被冻结" in page.text
        assert "不填邀请码，直接注册" in page.text
        before = (count_rows(database, Promoter), count_rows(database, User))
        response = client.submit(
            "/join",
            {
                "invite_code": inviter.invite_code,
                "name": "李四",
                "phone": phone_for(2),
                "password": PASSWORD,
            },
        )
        assert response.status_code == 409
        assert (count_rows(database, Promoter), count_rows(database, User)) == before

    def test_api_signup_and_binding_are_refused(
        self, app: Any, api_as: Any, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        from fastapi.testclient import TestClient

        inviter = make_promoter("王小明", 1)
        loner = make_promoter("李四", 2)
        freeze(api_as(admin), inviter.id)
        with TestClient(app) as api:
            response = api.post(
                "/api/v1/promoters/signup",
                json={
                    "invite_code": inviter.invite_code,
                    "name": "赵六",
                    "phone": phone_for(3),
                    "password": PASSWORD,
                },
            )
        assert response.status_code == 409
        assert response.json()["error"] == "inviter_frozen"
        bind = api_as(loner.principal).post(
            "/api/v1/promoters/me/bind", json={"invite_code": inviter.invite_code}
        )
        assert bind.status_code == 409
        assert bind.json()["error"] == "inviter_frozen"
        assert inviter_of(database, loner.id) is None
        assert count_rows(database, Promoter) == 2
        assert count_rows(database, PromoterBinding) == 0

    def test_h5_shows_banner_and_hides_invite(
        self, client: ConsoleClient, api_as: Any, admin: Any, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        freeze(api_as(admin), target.id, "违规群发")
        client.login(target.phone)
        me = client.get("/h5/me")
        assert 'data-testid="frozen-banner"' in me.text
        assert "原因：违规群发" in me.text
        invite = client.get("/h5/invite")
        assert 'data-testid="frozen-banner"' in invite.text
        assert 'data-testid="invite-qr"' not in invite.text
        qr = client.get("/h5/invite/qr.png")
        assert qr.status_code == 409
        assert "邀请二维码已停用" in qr.text


class TestFreezeConsole:
    def test_admin_freezes_from_detail_page(
        self, client: ConsoleClient, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        client.login("admin")
        page = client.get(f"/console/promoters/{target.id}")
        assert 'data-testid="freeze-form"' in page.text
        response = client.submit(f"/console/promoters/{target.id}/freeze", {"reason": "刷单"})
        assert response.status_code == 303
        detail = client.get(f"/console/promoters/{target.id}")
        assert "已冻结推手 王小明" in detail.text
        assert 'data-testid="unfreeze-form"' in detail.text
        assert "冻结原因：刷单" in detail.text
        assert load(database, target.id).status == PromoterStatus.FROZEN

    def test_missing_reason_flashes_and_changes_nothing(
        self, client: ConsoleClient, admin: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        client.login("admin")
        response = client.submit(f"/console/promoters/{target.id}/freeze", {"reason": ""})
        assert response.status_code == 303
        assert "冻结失败：请填写原因" in client.get(f"/console/promoters/{target.id}").text
        assert load(database, target.id).status == PromoterStatus.ACTIVE
        assert audit_events(database, "promoter.frozen") == []

    def test_operator_sees_no_freeze_form_and_is_refused(
        self, client: ConsoleClient, make_user: Any, database: Database, make_promoter: Make
    ) -> None:
        target = make_promoter("王小明", 1)
        make_user(Role.OPERATOR, "ops")
        client.login("ops")
        assert 'data-testid="freeze-form"' not in client.get(f"/console/promoters/{target.id}").text
        response = client.submit(f"/console/promoters/{target.id}/freeze", {"reason": "刷单"})
        assert response.status_code == 403
        assert load(database, target.id).status == PromoterStatus.ACTIVE
