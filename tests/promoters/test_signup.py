"""Sign-up: through another promoter's invite link (H5 and API), without an inviter, refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from siyu.db import Database
from siyu.jobs import JobQueue
from siyu.kit.crypto import blind_index, decrypt
from siyu.models import AuditEvent, Promoter, PromoterBinding, PromoterGrade, Role, User
from siyu.promoters import service
from siyu.promoters.schemas import SignupIn
from tests.conftest import PASSWORD, ConsoleClient, count_rows
from tests.promoters.conftest import (
    MadePromoter,
    audit_actions,
    bindings_of,
    inviter_of,
    load,
    phone_for,
    user_by_username,
)


def join(client: ConsoleClient, code: str, name: str, phone: str, password: str = PASSWORD) -> Any:
    return client.submit(
        "/join", {"invite_code": code, "name": name, "phone": phone, "password": password}
    )


def newest_promoter(database: Database) -> Promoter:
    from sqlalchemy import select

    with database.sessions() as session:
        promoter = session.scalar(select(Promoter).order_by(Promoter.id.desc()).limit(1))
        assert promoter is not None
        session.expunge(promoter)
        return promoter


class TestJoinThroughInviteLink:
    def test_join_page_names_the_inviter(
        self, client: ConsoleClient, make_promoter: Callable[..., MadePromoter]
    ) -> None:
        inviter = make_promoter("王小明", 1)
        page = client.get(f"/join/{inviter.invite_code}")
        assert page.status_code == 200
        assert "王小明" in page.text
        assert f'name="invite_code" value="{inviter.invite_code}"' in page.text

    def test_lowercase_code_in_link_works(
        self, client: ConsoleClient, make_promoter: Callable[..., MadePromoter]
    ) -> None:
        inviter = make_promoter("王小明", 1)
        page = client.get(f"/join/{inviter.invite_code.lower()}")
        assert page.status_code == 200
        assert "王小明" in page.text

    def test_signup_binds_logs_in_and_lands_on_me(
        self,
        client: ConsoleClient,
        database: Database,
        make_promoter: Callable[..., MadePromoter],
    ) -> None:
        inviter = make_promoter("王小明", 1)
        response = join(client, inviter.invite_code, "李四", "138 0000 0002")
        assert response.status_code == 303
        assert response.headers["location"] == "/h5/me"

        me = client.get("/h5/me")
        assert me.status_code == 200
        assert "注册成功，欢迎加入！以后请用手机号 138****0002 和您设置的密码登录。" in me.text
        assert "13800000002" not in me.text
        assert "李四" in me.text
        assert "138****0002" in me.text
        assert "王小明" in me.text  # shown as the inviter

        recruit = newest_promoter(database)
        assert recruit.name == "李四"
        assert recruit.inviter_id == inviter.id
        assert decrypt(recruit.phone_encrypted) == "13800000002"
        assert recruit.phone_index == blind_index("13800000002")
        assert "13800000002" not in recruit.phone_encrypted
        user = user_by_username(database, "13800000002")
        assert user is not None
        assert user.role == Role.PROMOTER
        assert user.promoter_id == recruit.id
        [binding] = bindings_of(database, recruit.id)
        assert (binding.inviter_id, binding.previous_inviter_id) == (inviter.id, None)
        assert (binding.source, binding.mode.value) == ("signup", "first_bind_wins")
        assert audit_actions(database, recruit.id) == ["promoter.created", "promoter.rebound"]

    def test_new_promoter_appears_in_inviter_team_in_console_and_api(
        self,
        client: ConsoleClient,
        database: Database,
        admin: Any,
        api_as: Callable[..., Any],
        make_promoter: Callable[..., MadePromoter],
    ) -> None:
        inviter = make_promoter("王小明", 1)
        join(client, inviter.invite_code, "李四", phone_for(2))
        recruit = newest_promoter(database)

        console = ConsoleClient(client.app, base_url="http://testserver")
        console.login("admin")
        page = console.get(f"/console/promoters/{inviter.id}")
        assert page.status_code == 200
        assert f'data-testid="l1-{recruit.id}"' in page.text
        assert "李四" in page.text

        team = api_as(admin).get(f"/api/v1/promoters/{inviter.id}/team").json()
        assert team["direct_recruit_count"] == 1
        assert team["second_level_count"] == 0
        assert [member["promoter"]["id"] for member in team["members"]] == [recruit.id]
        assert team["members"][0]["promoter"]["phone_masked"] == "138****0002"

    def test_signup_queues_grade_evaluation_for_inviter_and_its_inviter(
        self,
        client: ConsoleClient,
        database: Database,
        queue: JobQueue,
        make_promoter: Callable[..., MadePromoter],
    ) -> None:
        top = make_promoter("顶层", 1)
        middle = make_promoter("中层", 2, inviter=top)
        queue.run_pending()  # drop what the fixtures queued
        join(client, middle.invite_code, "新人", phone_for(3))
        assert queue.pending_count() == 2
        assert queue.run_pending() == 2

    def test_signup_works_on_an_empty_database(
        self, client: ConsoleClient, database: Database
    ) -> None:
        assert count_rows(database, PromoterGrade) == 0
        response = client.submit(
            "/join", {"name": "第一人", "phone": phone_for(1), "password": PASSWORD}
        )
        assert response.status_code == 303
        assert count_rows(database, PromoterGrade) == 3
        promoter = newest_promoter(database)
        assert promoter.inviter_id is None
        assert load(database, promoter.id).grade.code == "normal"
        assert bindings_of(database, promoter.id) == []


class TestJoinWithoutInviter:
    def test_join_page_without_code_offers_optional_code(self, client: ConsoleClient) -> None:
        page = client.get("/join")
        assert page.status_code == 200
        assert "邀请码（选填）" in page.text

    def test_typed_code_on_plain_join_page_binds(
        self,
        client: ConsoleClient,
        database: Database,
        make_promoter: Callable[..., MadePromoter],
    ) -> None:
        inviter = make_promoter("王小明", 1)
        join(client, f" {inviter.invite_code.lower()} ", "李四", phone_for(2))
        assert newest_promoter(database).inviter_id == inviter.id


class TestJoinRefusals:
    def test_unknown_code_shows_what_to_do_and_creates_nothing(
        self, client: ConsoleClient, database: Database
    ) -> None:
        page = client.get("/join/ZZZZ9999")
        assert page.status_code == 404
        assert "邀请码“ZZZZ9999”不存在" in page.text
        assert "不填邀请码，直接注册" in page.text
        response = join(client, "ZZZZ9999", "李四", phone_for(2))
        assert response.status_code == 404
        assert count_rows(database, Promoter) == 0
        assert count_rows(database, User) == 0

    def test_duplicate_phone_is_refused_and_nothing_changes(
        self,
        client: ConsoleClient,
        database: Database,
        make_promoter: Callable[..., MadePromoter],
    ) -> None:
        inviter = make_promoter("王小明", 1)
        make_promoter("李四", 2)
        before = (count_rows(database, Promoter), count_rows(database, User))
        response = join(client, inviter.invite_code, "假李四", "+86 138-0000-0002")
        assert response.status_code == 409
        assert "该手机号已注册为推手" in response.text
        assert "假李四" in response.text  # the form keeps what was typed
        assert (count_rows(database, Promoter), count_rows(database, User)) == before
        assert count_rows(database, PromoterBinding) == 0
        assert client.get("/h5/me", follow_redirects=False).status_code == 303  # not logged in

    def test_phone_used_as_another_login_name_is_refused_and_leaves_nothing(
        self, client: ConsoleClient, database: Database, make_user: Any
    ) -> None:
        make_user(Role.OPERATOR, phone_for(2))
        response = client.submit(
            "/join", {"name": "李四", "phone": phone_for(2), "password": PASSWORD}
        )
        assert response.status_code == 409
        assert "该手机号已注册为推手" in response.text
        assert count_rows(database, Promoter) == 0
        assert count_rows(database, User) == 1

    def test_invalid_phone_is_refused(self, client: ConsoleClient, database: Database) -> None:
        response = client.submit("/join", {"name": "李四", "phone": "12345", "password": PASSWORD})
        assert response.status_code == 422
        assert "手机号格式不正确" in response.text
        assert count_rows(database, Promoter) == 0

    def test_short_password_is_refused(self, client: ConsoleClient, database: Database) -> None:
        response = client.submit("/join", {"name": "李四", "phone": phone_for(2), "password": "1"})
        assert response.status_code == 422
        assert "密码长度须为 8 到 128 位" in response.text
        assert count_rows(database, Promoter) == 0
        assert count_rows(database, PromoterGrade) == 0

    def test_blank_name_is_refused(self, client: ConsoleClient, database: Database) -> None:
        response = client.submit(
            "/join", {"name": "  ", "phone": phone_for(2), "password": PASSWORD}
        )
        assert response.status_code == 422
        assert "请填写姓名" in response.text
        assert count_rows(database, Promoter) == 0


class TestLoggedInPromoterOpeningInviteLink:
    def test_is_sent_to_bind_form_with_the_code(
        self, client: ConsoleClient, make_promoter: Callable[..., MadePromoter]
    ) -> None:
        inviter = make_promoter("王小明", 1)
        make_promoter("李四", 2)
        client.login(phone_for(2))
        response = client.get(f"/join/{inviter.invite_code}", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/h5/bind?code={inviter.invite_code}"
        form = client.get(response.headers["location"])
        assert f'value="{inviter.invite_code}"' in form.text


class TestSignupApi:
    def test_signup_with_code_is_201_with_masked_phone(
        self, app: Any, database: Database, make_promoter: Callable[..., MadePromoter]
    ) -> None:
        from fastapi.testclient import TestClient

        inviter = make_promoter("王小明", 1)
        with TestClient(app) as api:
            response = api.post(
                "/api/v1/promoters/signup",
                json={
                    "invite_code": inviter.invite_code,
                    "name": "李四",
                    "phone": phone_for(2),
                    "password": PASSWORD,
                },
            )
            assert response.status_code == 201
            body = response.json()
            assert body["promoter"]["phone_masked"] == "138****0002"
            user = user_by_username(database, phone_for(2))
            assert user is not None
            assert body["user_id"] == user.id
            assert body["promoter"]["inviter_id"] == inviter.id
            assert body["promoter"]["inviter_name"] == "王小明"
            assert body["promoter"]["grade"]["code"] == "normal"
            assert phone_for(2) not in response.text
            token = api.post(
                "/api/v1/auth/token", json={"username": phone_for(2), "password": PASSWORD}
            )
            assert token.status_code == 200

    def test_signup_without_code(self, app: Any, database: Database) -> None:
        from fastapi.testclient import TestClient

        with TestClient(app) as api:
            response = api.post(
                "/api/v1/promoters/signup",
                json={"name": "李四", "phone": phone_for(2), "password": PASSWORD},
            )
        assert response.status_code == 201
        assert response.json()["promoter"]["inviter_id"] is None

    def test_duplicate_phone_is_409_with_code(
        self, app: Any, database: Database, make_promoter: Callable[..., MadePromoter]
    ) -> None:
        from fastapi.testclient import TestClient

        make_promoter("李四", 2)
        with TestClient(app) as api:
            response = api.post(
                "/api/v1/promoters/signup",
                json={"name": "李四", "phone": phone_for(2), "password": PASSWORD},
            )
        assert response.status_code == 409
        assert response.json()["error"] == "phone_already_registered"
        assert count_rows(database, Promoter) == 1

    def test_unknown_code_is_404_with_code(self, app: Any, database: Database) -> None:
        from fastapi.testclient import TestClient

        with TestClient(app) as api:
            response = api.post(
                "/api/v1/promoters/signup",
                json={
                    "invite_code": "NOPE2345",
                    "name": "李四",
                    "phone": phone_for(2),
                    "password": PASSWORD,
                },
            )
        assert response.status_code == 404
        assert response.json()["error"] == "invite_code_not_found"
        assert count_rows(database, Promoter) == 0


class TestServiceSignup:
    def test_system_creation_has_no_acting_user(self, database: Database) -> None:
        with database.sessions() as session:
            result = service.sign_up(
                session, SignupIn(name="甲", phone=phone_for(1), password=PASSWORD)
            )
            session.commit()
            promoter_id, user_id = result.promoter.id, result.user.id
        with database.sessions() as session:
            from sqlalchemy import select

            event = session.scalar(select(AuditEvent).where(AuditEvent.object_id == promoter_id))
            assert event is not None
            # A self sign-up is recorded as the new person's own act.
            assert (event.action, event.actor_user_id) == ("promoter.created", user_id)

    def test_invite_codes_are_unique_and_readable(
        self, make_promoter: Callable[..., MadePromoter]
    ) -> None:
        codes = {make_promoter(f"推手{number}", number).invite_code for number in range(1, 6)}
        assert len(codes) == 5
        for code in codes:
            assert len(code) == 8
            assert not set(code) & set("01OIL")

    def test_inviter_chain_through_invite_codes(
        self, database: Database, make_promoter: Callable[..., MadePromoter]
    ) -> None:
        top = make_promoter("顶层", 1)
        middle = make_promoter("中层", 2, inviter=top)
        assert inviter_of(database, middle.id) == top.id
        [binding] = bindings_of(database, middle.id)
        assert binding.source == "system"


class TestSignupRateLimit:
    def test_api_signups_from_one_client_are_limited(self, app: Any, database: Any) -> None:
        from fastapi.testclient import TestClient

        from siyu.config import current_settings
        from siyu.models import Promoter
        from tests.conftest import count_rows

        current_settings().signup_rate_limit = "2/hour"
        with TestClient(app) as api:
            for index in range(2):
                response = api.post(
                    "/api/v1/promoters/signup",
                    json={
                        "name": f"推手{index}",
                        "phone": f"1390000000{index}",
                        "password": "pass-word-1",
                    },
                )
                assert response.status_code == 201, response.text
            refused = api.post(
                "/api/v1/promoters/signup",
                json={"name": "推手9", "phone": "13900000009", "password": "pass-word-1"},
            )
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert count_rows(database, Promoter) == 2
