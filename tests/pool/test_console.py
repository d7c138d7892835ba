from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.config import Settings
from siyu.db import Database
from siyu.models import AccountStatus, AssistedTask, Contact, ContactState, OperatorAccount
from siyu.pool import groups
from siyu.pool.schemas import GroupCodeCreate
from tests.conftest import ConsoleClient
from tests.pool.conftest import make_account, make_code
from tests.promoters.conftest import MadePromoter

Make = Callable[..., MadePromoter]


class TestFleetPage:
    def test_create_account_and_see_capacity(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        client.login("admin")
        response = client.submit(
            "/console/pool/accounts",
            {
                "name": "京东活动推广员-001",
                "kind": "personal_assisted",
                "max_friends": "100",
                "working_from": "09:00",
                "working_until": "22:00",
                "city_code": "110100",
            },
        )
        assert response.status_code == 303
        with database.sessions() as session:
            account = session.scalars(select(OperatorAccount)).one()
            assert (account.max_friends, account.working_from_minute) == (100, 540)
            assert account.working_until_minute == 1320
        page = client.get("/console/pool/accounts")
        assert page.status_code == 200
        assert "京东活动推广员-001" in page.text
        assert "0 / 100" in page.text
        assert "运营号" in page.text

    def test_bad_region_shows_chinese_error(self, client: ConsoleClient, admin: Principal) -> None:
        client.login("admin")
        client.submit("/console/pool/accounts", {"name": "x", "city_code": "abc"})
        page = client.get("/console/pool/accounts")
        assert "地区编码" in page.text

    def test_status_change_and_cap_below_usage(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            account = make_account(session)
            account.friends_used = 50
            session.commit()
            account_id = account.id
        client.login("admin")
        client.submit(
            f"/console/pool/accounts/{account_id}/status", {"status": "banned", "reason": "被封"}
        )
        client.submit(f"/console/pool/accounts/{account_id}", {"max_friends": "10"})
        page = client.get(f"/console/pool/accounts/{account_id}")
        assert "不能低于已使用的数量" in page.text
        with database.sessions() as session:
            stored = session.get_one(OperatorAccount, account_id)
            assert (stored.status, stored.max_friends) == (AccountStatus.BANNED, 10_000)


class TestCodePages:
    def test_code_detail_qr_and_public_scan(
        self, client: ConsoleClient, admin: Principal, database: Database, queue: Any
    ) -> None:
        with database.sessions() as session:
            account = make_account(session, external_id="jd_promoter_001")
            code = make_code(session, rule={"account_ids": [account.id]}, source_label="拉杆箱")
            session.commit()
            code_id, code_text = code.id, code.code
        landing = client.get(f"/c/{code_text}")
        assert landing.status_code == 200
        assert "立即添加" in landing.text
        result = client.submit(f"/c/{code_text}", {"phone": "13800138000"})
        assert result.status_code == 200
        assert 'data-testid="wechat-id">jd_promoter_001<' in result.text
        client.login("admin")
        detail = client.get(f"/console/pool/codes/{code_id}")
        assert "已分配 1" in detail.text
        assert client.get(f"/console/pool/codes/{code_id}/qr.png").content.startswith(b"\x89PNG")

    def test_full_page(self, client: ConsoleClient, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session, max_friends=0)
            code = make_code(session, rule={"account_ids": [account.id]})
            session.commit()
        page = client.submit(f"/c/{code.code}", {"phone": "13800138000"})
        assert page.status_code == 200
        assert "已满" in page.text
        with database.sessions() as session:
            assert session.scalars(select(Contact)).all() == []

    def test_unknown_code(self, client: ConsoleClient) -> None:
        assert client.get("/c/nothing").status_code == 404

    def test_scans_from_one_address_are_rate_limited(
        self, client: ConsoleClient, database: Database, settings: Settings, queue: Any
    ) -> None:
        settings.scan_rate_limit = "2/minute"
        with database.sessions() as session:
            account = make_account(session)
            code = make_code(session, rule={"account_ids": [account.id]})
            session.commit()
        for number in (1, 2):
            assert client.submit(f"/c/{code.code}", {"phone": f"1380013800{number}"}).is_success
        refused = client.submit(f"/c/{code.code}", {"phone": "13800138003"})
        assert refused.status_code == 429
        assert "尝试次数过多" in refused.text
        with database.sessions() as session:
            assert len(session.scalars(select(Contact)).all()) == 2
        api = client.post(f"/api/v1/pool/scan/{code.code}", json={"phone": "13800138004"})
        assert (api.status_code, api.json()["error"]) == (429, "rate_limited")

    def test_group_code_public_join(self, client: ConsoleClient, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            group_code = groups.create_group_code(
                session,
                None,
                GroupCodeCreate(account_id=account.id, name="券群", name_template="券群{n}"),
            )
            session.commit()
        page = client.submit(f"/g/{group_code.code}", {"phone": "13800138000"})
        assert "券群1" in page.text


class TestInboxPages:
    def test_h5_task_done(
        self, client: ConsoleClient, make_promoter: Make, database: Database, queue: Any
    ) -> None:
        courier = make_promoter("快递员", 7)
        with database.sessions() as session:
            account = make_account(
                session, channel_backend="assisted", owner_promoter_id=courier.id
            )
            code = make_code(
                session, rule={"account_ids": [account.id]}, welcome_script="您好，我是京东小哥"
            )
            session.commit()
        client.submit(f"/c/{code.code}", {"phone": "13900139000"})
        queue.run_pending()
        client.login(courier.phone)
        page = client.get("/h5/tasks")
        assert "您好，我是京东小哥" in page.text
        task_id = int(re.search(r'action="/h5/tasks/(\d+)"', page.text).group(1))  # type: ignore[union-attr]
        done = client.submit(f"/h5/tasks/{task_id}", {"status": "done"})
        assert done.status_code == 303
        queue.run_pending()
        with database.sessions() as session:
            assert session.get_one(AssistedTask, task_id).status == "done"
            assert session.scalars(select(Contact.state)).one() == ContactState.CONFIRMED

    def test_promoter_cannot_see_other_promoters_tasks(
        self, client: ConsoleClient, make_promoter: Make, database: Database, queue: Any
    ) -> None:
        alice = make_promoter("甲", 1)
        bob = make_promoter("乙", 2)
        with database.sessions() as session:
            account = make_account(session, channel_backend="assisted", owner_promoter_id=alice.id)
            code = make_code(session, rule={"account_ids": [account.id]}, welcome_script="甲的话术")
            session.commit()
            account_id = account.id
        client.submit(f"/c/{code.code}", {"phone": "13900139000"})
        queue.run_pending()
        client.login(bob.phone)
        assert "甲的话术" not in client.get("/console/pool/tasks").text
        assert "甲的话术" not in client.get("/h5/tasks").text
        assert client.get(f"/console/pool/accounts/{account_id}").status_code == 404
        with database.sessions() as session:
            task = session.scalars(select(AssistedTask)).one()
        refused = client.submit(f"/h5/tasks/{task.id}", {"status": "done"})
        assert refused.status_code == 404
        with database.sessions() as session:
            assert session.get_one(AssistedTask, task.id).status == "open"

    def test_groups_page(self, client: ConsoleClient, admin: Principal, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            group_code = groups.create_group_code(
                session,
                None,
                GroupCodeCreate(
                    account_id=account.id, name="券群", name_template="券群{n}", capacity=2
                ),
            )
            session.commit()
        client.submit(f"/g/{group_code.code}", {"phone": "13800138000"})
        client.login("admin")
        page = client.get("/console/pool/groups")
        assert "1 / 2" in page.text
        assert "券群1" in page.text
