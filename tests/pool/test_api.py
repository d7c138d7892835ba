from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.models import AuditEvent, ChannelEvent, OperatorAccount, PersonalDataAccess, Role
from siyu.pool import service
from tests.conftest import count_rows
from tests.promoters.conftest import MadePromoter

Make = Callable[..., MadePromoter]


def create(client: Any, **values: Any) -> dict[str, Any]:
    body = {"name": "号", "kind": "personal_assisted", **values}
    response = client.post("/api/v1/pool/accounts", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestAccountsApi:
    def test_defaults_capacity_and_status_audit(
        self, api_as: Any, admin: Principal, database: Database
    ) -> None:
        client = api_as(admin)
        account = create(client)
        assert (account["max_friends"], account["passive_adds_per_day"]) == (10_000, 200)
        assert account["active_adds_per_day"] == 20
        wecom = create(client, name="企微", kind="wecom_member")
        assert wecom["max_friends"] == 5000
        changed = client.post(
            f"/api/v1/pool/accounts/{account['id']}/status",
            json={"status": "resting", "reason": "新号养号"},
        )
        assert changed.status_code == 200
        assert changed.json()["status"] == "resting"
        again = client.post(
            f"/api/v1/pool/accounts/{account['id']}/status",
            json={"status": "resting", "reason": "again"},
        )
        assert again.status_code == 409
        capacity = client.get("/api/v1/pool/accounts/capacity").json()
        assert capacity == {
            "accounts": 2,
            "active_accounts": 1,
            "friends_used": 0,
            "friends_capacity": 15_000,
            "friends_free": 15_000,
            "passive_adds_today": 0,
            "passive_adds_capacity_today": 200,
            "unhealthy_accounts": 1,
        }
        with database.sessions() as session:
            actions = session.scalars(
                select(AuditEvent.action).where(AuditEvent.object_type == "operator_account")
            ).all()
            assert actions == [
                "pool.account_created",
                "pool.account_created",
                "pool.account_status",
            ]

    def test_cap_errors(self, api_as: Any, admin: Principal) -> None:
        client = api_as(admin)
        too_many = client.post(
            "/api/v1/pool/accounts",
            json={"name": "x", "kind": "personal_assisted", "max_friends": 20_000},
        )
        assert too_many.status_code == 422
        assert too_many.json()["error"] == "account_cap_invalid"
        as_float = client.post(
            "/api/v1/pool/accounts",
            json={"name": "x", "kind": "personal_assisted", "max_friends": 10.5},
        )
        assert as_float.status_code == 422

    def test_promoter_sees_only_own(
        self, api_as: Any, admin: Principal, make_promoter: Make, database: Database
    ) -> None:
        alice = make_promoter("甲", 1)
        bob = make_promoter("乙", 2)
        platform = create(api_as(admin), name="平台号")
        alice_client = api_as(alice.principal)
        own = create(alice_client, name="甲的号")
        assert own["owner_promoter_id"] == alice.id
        forged = alice_client.post(
            "/api/v1/pool/accounts",
            json={"name": "冒充", "kind": "courier", "owner_promoter_id": bob.id},
        )
        assert forged.status_code == 403
        listed_response = alice_client.get("/api/v1/pool/accounts")
        assert listed_response.status_code == 200, listed_response.text
        listed = listed_response.json()
        assert [a["id"] for a in listed["items"]] == [own["id"]]
        assert alice_client.get(f"/api/v1/pool/accounts/{platform['id']}").status_code == 404
        bob_client = api_as(bob.principal)
        assert bob_client.get(f"/api/v1/pool/accounts/{own['id']}").status_code == 404
        # A promoter's code may only name the promoter's own accounts.
        code = alice_client.post(
            "/api/v1/pool/codes", json={"name": "码", "rule": {"account_ids": [platform["id"]]}}
        )
        assert code.status_code == 422
        assert count_rows(database, OperatorAccount) == 2

    def test_merchant_refused(self) -> None:
        merchant = Principal(user_id=9, username="m", display_name="m", role=Role.MERCHANT)
        with pytest.raises(PermissionDenied):
            service.scope_of(merchant)


class TestCodesApi:
    def test_create_scan_stats_qr(
        self, api_as: Any, admin: Principal, queue: Any, database: Database
    ) -> None:
        client = api_as(admin)
        account = create(client, channel_backend="simulator")
        code = client.post(
            "/api/v1/pool/codes",
            json={"name": "拉杆箱", "rule": {"account_ids": [account["id"]]}, "tag_names": ["箱"]},
        ).json()
        assert code["url"].endswith(f"/c/{code['code']}")
        scanned = client.post(f"/api/v1/pool/scan/{code['code']}", json={"union_id": "u1"})
        assert scanned.status_code == 200
        assert scanned.json()["outcome"] == "routed"
        assert scanned.json()["account_id"] == account["id"]
        queue.run_pending()
        queue.run_pending()
        stats = client.get(f"/api/v1/pool/codes/{code['id']}/stats").json()
        assert stats == {
            "scans": {"routed": 1},
            "adds_by_account": [
                {"account_id": account["id"], "name": "号", "routed": 1, "confirmed": 1}
            ],
        }
        qr = client.get(f"/api/v1/pool/codes/{code['id']}/qr.png")
        assert qr.headers["content-type"] == "image/png"
        assert qr.content.startswith(b"\x89PNG")
        contacts = client.get("/api/v1/pool/contacts").json()
        assert contacts["total"] == 1
        assert contacts["items"][0]["state"] == "confirmed"
        # Reading the contact list is a read of personal data: one access row per person.
        with database.sessions() as session:
            [row] = session.scalars(select(PersonalDataAccess)).all()
            assert (row.actor_user_id, row.purpose) == (admin.user_id, "api.pool.contacts")

    def test_bad_rule(self, api_as: Any, admin: Principal) -> None:
        response = api_as(admin).post(
            "/api/v1/pool/codes", json={"name": "x", "rule": {"city_codes": ["北京"]}}
        )
        assert response.status_code == 422
        assert response.json()["error"] == "channel_rule_invalid"


class TestEventsApi:
    def test_duplicate_event(self, api_as: Any, admin: Principal, database: Database) -> None:
        client = api_as(admin)
        body = {"backend": "simulator", "external_event_id": "dup-1", "kind": "message"}
        first = client.post("/api/v1/pool/events", json=body).json()
        second = client.post("/api/v1/pool/events", json=body).json()
        assert (first["duplicate"], second["duplicate"], first["id"]) == (False, True, second["id"])
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(ChannelEvent)) == 1

    def test_promoter_cannot_push_events(self, api_as: Any, make_promoter: Make) -> None:
        alice = make_promoter("甲", 1)
        response = api_as(alice.principal).post(
            "/api/v1/pool/events",
            json={"backend": "simulator", "external_event_id": "x", "kind": "message"},
        )
        assert response.status_code == 403
