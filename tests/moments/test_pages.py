"""朋友圈 console pages and the JSON API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.kit.time import travel_to
from siyu.models.moments import MomentColumn, MomentPost, MomentPublication, PublicationStatus
from siyu.moments import service
from siyu.moments.schemas import ColumnIn
from tests.conftest import ConsoleClient
from tests.moments.test_service import confirmed_contacts
from tests.pool.conftest import make_account

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 09:00 Shanghai


def account_with_contacts(database: Database, backend: str = "simulator") -> int:
    with database.sessions() as session:
        account = make_account(session, "福利官", channel_backend=backend)
        confirmed_contacts(session, account.id, 3, f"p{account.id}")
        session.commit()
        return account.id


class TestConsole:
    def test_column_post_and_detail(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        account_id = account_with_contacts(database)
        client.login("admin")
        with travel_to(NOW):
            response = client.submit(
                "/console/moments/columns",
                {
                    "name": "好物推荐",
                    "slot": "12:00",
                    "weekdays": ["1", "2", "3"],
                    "account_ids": str(account_id),
                },
            )
            assert response.status_code == 303
            page = client.get("/console/moments")
            assert page.status_code == 200
            assert "好物推荐" in page.text
            assert "12:00" in page.text
            assert "＋ 排期" in page.text
            with database.sessions() as session:
                column_id = session.scalars(select(MomentColumn.id)).one()
            form = client.get(f"/console/moments/new?column_id={column_id}&day=2026-12-01")
            assert "1 个运营号同步发布" in form.text
            # Checking the copy shows the lint inline and writes nothing.
            checked = client.submit(
                "/console/moments/new",
                {
                    "column_id": str(column_id),
                    "publish_on": "2026-12-01",
                    "text": "全网最低价，转发到3个群领红包",
                    "check_only": "1",
                },
            )
            assert checked.status_code == 200
            assert "禁止" in checked.text
            with database.sessions() as session:
                assert session.scalar(select(func.count()).select_from(MomentPost)) == 0
            # Scheduling the blocked copy is refused with the Chinese reason, nothing written.
            refused = client.submit(
                "/console/moments/new",
                {
                    "column_id": str(column_id),
                    "publish_on": "2026-12-01",
                    "text": "全网最低价，转发到3个群领红包",
                },
            )
            assert refused.status_code == 422
            assert "post-error" in refused.text
            with database.sessions() as session:
                assert session.scalar(select(func.count()).select_from(MomentPost)) == 0
            done = client.submit(
                "/console/moments/new",
                {
                    "column_id": str(column_id),
                    "publish_on": "2026-12-01",
                    "text": "今日好物：拉杆箱，点链接看详情",
                    "link_url": "https://example.com/s/a1",
                },
            )
            assert done.status_code == 303
            detail = client.get(done.headers["location"])
            assert "今日好物：拉杆箱" in detail.text
            assert "待发布" in detail.text
            calendar = client.get("/console/moments?day=2026-12-02")
            assert "今日好物" in calendar.text

    def test_passed_slot_gives_chinese_error(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        account_id = account_with_contacts(database)
        with database.sessions() as session:
            column = service.create_column(
                session,
                admin,
                ColumnIn(name="早安", slot="08:00", account_ids=[account_id]),
            )
            session.commit()
            column_id = column.id
        client.login("admin")
        with travel_to(NOW):
            refused = client.submit(
                "/console/moments/new",
                {"column_id": str(column_id), "publish_on": "2026-12-01", "text": "早上好"},
            )
        assert refused.status_code == 422
        assert "该时段已过" in refused.text

    def test_promoter_cannot_open(self, client: ConsoleClient, make_promoter: Any) -> None:
        promoter = make_promoter("甲", 1)
        client.login(promoter.principal.username)
        assert client.get("/console/moments").status_code == 403


class TestApi:
    def test_schedule_publish_and_read(
        self, api_as: Any, admin: Principal, database: Database, queue: Any
    ) -> None:
        account_id = account_with_contacts(database)
        api = api_as(admin)
        column = api.post(
            "/api/v1/moments/columns",
            json={"name": "福利", "slot": "20:00", "account_ids": [account_id]},
        )
        assert column.status_code == 201
        with travel_to(NOW):
            created = api.post(
                "/api/v1/moments/posts",
                json={
                    "column_id": column.json()["id"],
                    "publish_on": "2026-12-01",
                    "text": "今晚 8 点福利：满 99 减 20 券",
                },
            )
            assert created.status_code == 201, created.text
            post_id = created.json()["id"]
            assert created.json()["publish_at"].startswith("2026-12-01T12:00")
            week = api.get("/api/v1/moments/posts", params={"day": "2026-12-03"})
            assert [row["id"] for row in week.json()] == [post_id]
        with travel_to(NOW + timedelta(hours=11, minutes=1)), database.sessions() as session:
            for publication_id in service.due_publications(session):
                service.publish(session, publication_id)
            session.commit()
        publications = api.get(f"/api/v1/moments/posts/{post_id}/publications").json()
        assert [(p["account_id"], p["status"]) for p in publications] == [
            (account_id, PublicationStatus.PUBLISHED.value)
        ]

    def test_errors_have_codes(self, api_as: Any, admin: Principal, database: Database) -> None:
        api = api_as(admin)
        bad = api.post("/api/v1/moments/columns", json={"name": "x", "slot": "8点"})
        assert bad.status_code == 422
        assert bad.json()["error"] == "moment_column_invalid"
        missing = api.post(
            "/api/v1/moments/posts",
            json={"column_id": 999, "publish_on": date(2026, 12, 1).isoformat(), "text": "x"},
        )
        assert missing.status_code == 404
        assert missing.json()["error"] == "moment_column_not_found"
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(MomentPublication)) == 0
