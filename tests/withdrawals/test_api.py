"""The money API and pages: own data only (others → 404), admin actions, CSV, H5 pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from siyu.auth.principal import Principal
from siyu.commissions import service as commissions
from siyu.db import Database
from siyu.models import Role
from tests.withdrawals.world import PAID_AT, World, build_world, place


@pytest.fixture
def world(database: Database) -> World:
    world = build_world(database)
    with database.sessions() as session:
        for _ in range(2):
            order = place(session, world, paid_fen=100_000)
            commissions.on_order_placed(session, order)
            order.received_at = PAID_AT
            commissions.on_order_received(session, order)
        commissions.settle_due(session, PAID_AT + timedelta(days=8))
        held = None
        for minute in range(31):
            held = place(session, world, paid_fen=1000, paid_at=PAID_AT + timedelta(minutes=minute))
            commissions.on_order_placed(session, held)
        session.commit()
    return world


class TestCommissionsApi:
    def test_promoter_sees_only_its_own(self, world: World, api_as: Any) -> None:
        l1 = api_as(world.l1)
        l2 = api_as(world.l2)
        mine = l1.get("/api/v1/commissions").json()
        assert {item["promoter_id"] for item in mine["items"]} == {world.l1_id}
        other_id = l2.get("/api/v1/commissions").json()["items"][0]["id"]
        assert l1.get(f"/api/v1/commissions/{other_id}").status_code == 404
        forced = l1.get(f"/api/v1/commissions?promoter_id={world.l2_id}").json()
        assert {item["promoter_id"] for item in forced["items"]} == {world.l1_id}
        earnings = l1.get("/api/v1/commissions/earnings").json()
        assert earnings["balances_fen"]["promoter_available"] == 9000
        assert earnings["by_state_fen"]["settled"] == 9000
        assert l1.get(f"/api/v1/commissions/earnings/{world.l2_id}").status_code == 404

    def test_ledger_entries_of_others_are_not_found(
        self, world: World, api_as: Any, admin: Principal
    ) -> None:
        staff = api_as(admin)
        balances = staff.get(f"/api/v1/commissions/earnings/{world.l2_id}")
        assert balances.status_code == 200
        l2_accounts = staff.get(f"/api/v1/commissions?promoter_id={world.l2_id}").json()
        assert l2_accounts["total"] >= 1
        from siyu.db import get_database
        from siyu.ledger import rules as ledger_rules
        from siyu.ledger import service as ledger

        with get_database().sessions() as session:
            account = ledger.account_of(session, None, ledger_rules.promoter_available(world.l2_id))
        l1 = api_as(world.l1)
        assert l1.get(f"/api/v1/ledger/accounts/{account.id}/entries").status_code == 404
        entries = staff.get(f"/api/v1/ledger/accounts/{account.id}/entries").json()
        assert entries["balance_fen"] == 2 * 450
        assert [item["amount_fen"] for item in entries["items"]] == [450, 450]

    def test_merchant_sees_only_its_own_costs(
        self, world: World, api_as: Any, make_user: Any
    ) -> None:
        merchant = make_user(Role.MERCHANT, "shop", merchant_id=world.merchant_id)
        client = api_as(merchant)
        items = client.get("/api/v1/commissions").json()["items"]
        assert items
        assert {item["merchant_id"] for item in items} == {world.merchant_id}

    def test_hold_queue_and_decision(self, world: World, api_as: Any, admin: Principal) -> None:
        staff = api_as(admin)
        holds = staff.get("/api/v1/fraud-holds").json()["items"]
        assert len(holds) == 1
        assert holds[0]["reasons"] == ["velocity"]
        assert api_as(world.l1).get("/api/v1/fraud-holds").status_code == 403
        response = staff.post(f"/api/v1/fraud-holds/{holds[0]['id']}/release", json={"reason": ""})
        assert response.status_code == 422
        response = staff.post(
            f"/api/v1/fraud-holds/{holds[0]['id']}/confirm", json={"reason": "刷单"}
        )
        assert response.json()["status"] == "confirmed"


class TestWithdrawalsApi:
    def test_request_review_and_pay(self, world: World, api_as: Any, admin: Principal) -> None:
        l1 = api_as(world.l1)
        created = l1.post("/api/v1/withdrawals", json={"amount_fen": 5000, "idempotency_key": "a"})
        assert created.status_code == 201, created.text
        again = l1.post("/api/v1/withdrawals", json={"amount_fen": 5000, "idempotency_key": "a"})
        assert again.json()["id"] == created.json()["id"]
        too_much = l1.post("/api/v1/withdrawals", json={"amount_fen": 5000, "idempotency_key": "b"})
        assert too_much.status_code == 409
        withdrawal_id = created.json()["id"]
        assert api_as(world.l2).get(f"/api/v1/withdrawals/{withdrawal_id}").status_code == 404
        assert l1.post(f"/api/v1/withdrawals/{withdrawal_id}/approve").status_code == 403
        staff = api_as(admin)
        approved = staff.post(f"/api/v1/withdrawals/{withdrawal_id}/approve").json()
        assert approved["bill_no"].startswith("SYW")
        csv_body = staff.get("/api/v1/withdrawals/export.csv").text
        assert approved["bill_no"] in csv_body
        paid = staff.post(f"/api/v1/withdrawals/{withdrawal_id}/paid").json()
        assert paid["status"] == "paid"
        earnings = l1.get("/api/v1/commissions/earnings").json()["balances_fen"]
        assert (earnings["promoter_available"], earnings["promoter_withdrawing"]) == (4000, 0)


class TestPages:
    def test_console_pages_render(self, world: World, client: Any, admin: Principal) -> None:
        client.login("admin")
        for url in (
            "/console/commissions",
            "/console/commissions?state=settled",
            f"/console/commissions/costs?merchant_id={world.merchant_id}",
            f"/console/ledger/promoter/{world.l1_id}",
            "/console/holds",
            "/console/withdrawals",
            "/console/withdrawals/export.csv",
        ):
            response = client.get(url)
            assert response.status_code == 200, (url, response.text[:500])
        assert "风控审核" in client.get("/console/holds").text

    def test_ledger_page_shows_the_reconciliation(
        self, world: World, client: Any, admin: Principal
    ) -> None:
        client.login("admin")
        page = client.get(f"/console/ledger/promoter/{world.l1_id}")
        assert page.status_code == 200
        table = page.text[page.text.index('data-testid="reconciliation"') :]
        assert table.count("一致") == 6
        assert "不一致" not in table
        assert (
            'data-testid="reconciliation"'
            not in client.get(f"/console/ledger/merchant/{world.merchant_id}").text
        )

    def test_h5_withdraw_flow(self, world: World, client: Any) -> None:
        client.login(world.l1.username)
        page = client.get("/h5/earnings")
        assert page.status_code == 200
        assert "90.00" in page.text
        form = client.get("/h5/withdraw")
        assert form.status_code == 200
        import re

        match = re.search(r'name="request_key" value="([^"]+)"', form.text)
        assert match
        response = client.submit(
            "/h5/withdraw", {"amount_yuan": "12.50", "request_key": match.group(1)}
        )
        assert response.status_code == 303
        assert "77.50" in client.get("/h5/withdraw").text
        statement = client.get("/h5/earnings/statement?month=2026-06")
        assert statement.status_code == 200
        assert "90.00" in statement.text


class TestCostsAndStatementsApi:
    def test_merchant_costs_are_its_own(
        self, world: World, api_as: Any, make_user: Any, admin: Principal
    ) -> None:
        merchant = api_as(make_user(Role.MERCHANT, "shop", merchant_id=world.merchant_id))
        costs = merchant.get(f"/api/v1/commissions/costs/{world.merchant_id}").json()
        # two orders of 1000.00 at 5 % + 31 orders of 10.00 at 5 % (one on hold)
        assert costs == {
            "merchant_id": world.merchant_id,
            "commission_cost_fen": 2 * 5000 + 31 * 50,
        }
        assert merchant.get(f"/api/v1/commissions/costs/{world.merchant_id + 1}").status_code == 404
        assert (
            api_as(world.l1).get(f"/api/v1/commissions/costs/{world.merchant_id}").status_code
            == 404
        )

    def test_statement_api_reconciles(self, world: World, api_as: Any) -> None:
        l1 = api_as(world.l1)
        body = l1.get(f"/api/v1/commissions/statements/{world.l1_id}/2026/6").json()
        assert (body["opening_fen"], body["accrued_fen"], body["closing_fen"]) == (0, 9000, 9000)
        assert body["reconciles"] is True
        assert l1.get(f"/api/v1/commissions/statements/{world.l2_id}/2026/6").status_code == 404

    def test_resubmit_keeps_the_bill(self, world: World, api_as: Any, admin: Principal) -> None:
        l1 = api_as(world.l1)
        staff = api_as(admin)
        created = l1.post("/api/v1/withdrawals", json={"amount_fen": 1000, "idempotency_key": "r"})
        withdrawal_id = created.json()["id"]
        bill = staff.post(f"/api/v1/withdrawals/{withdrawal_id}/approve").json()["bill_no"]
        again = staff.post(f"/api/v1/withdrawals/{withdrawal_id}/resubmit").json()
        assert again["bill_no"] == bill
        assert again["status"] == "approved"


class TestConsoleActions:
    def test_withdrawal_and_hold_forms(self, world: World, client: Any, admin: Principal) -> None:
        from siyu.db import get_database
        from siyu.models import FraudHold, Withdrawal
        from siyu.withdrawals import service as withdrawals

        with get_database().sessions() as session:
            withdrawal = withdrawals.request_withdrawal(session, world.l1, 2000, "console")
            session.commit()
            withdrawal_id = withdrawal.id
            hold_id = session.query(FraudHold.id).scalar()
        client.login("admin")
        response = client.submit(f"/console/withdrawals/{withdrawal_id}/approve")
        assert response.status_code == 303
        response = client.submit(f"/console/withdrawals/{withdrawal_id}/failed", {"reason": ""})
        assert response.status_code == 303
        assert "操作失败" in client.get("/console/withdrawals").text
        client.submit(f"/console/withdrawals/{withdrawal_id}/failed", {"reason": "账户冻结"})
        response = client.submit(f"/console/holds/{hold_id}/release", {"reason": "核实无误"})
        assert response.status_code == 303
        with get_database().sessions() as session:
            assert session.get(Withdrawal, withdrawal_id).status.value == "failed"  # type: ignore[union-attr]
            assert session.get(FraudHold, hold_id).status.value == "released"  # type: ignore[union-attr]
