from __future__ import annotations

from typing import Any

from siyu.auth.principal import Principal
from siyu.models import AuditEvent, Role
from tests.conftest import PASSWORD, ConsoleClient, count_rows


class TestConsoleLogin:
    def test_login_redirects_to_console_and_shows_name(
        self, client: ConsoleClient, admin: Principal
    ) -> None:
        response = client.login("admin")
        assert response.headers["location"] == "/console"
        page = client.get("/console")
        assert page.status_code == 200
        assert "admin（平台管理员）" in page.text

    def test_wrong_password_shows_chinese_error_and_no_session(
        self, client: ConsoleClient, admin: Principal
    ) -> None:
        response = client.submit("/login", {"username": "admin", "password": "wrong-password"})
        assert response.status_code == 401
        assert "用户名或密码错误" in response.text
        assert client.get("/console", follow_redirects=False).status_code == 303

    def test_console_requires_login(self, client: ConsoleClient) -> None:
        response = client.get("/console/users", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/console/users"

    def test_post_without_csrf_token_is_refused(
        self, client: ConsoleClient, admin: Principal
    ) -> None:
        response = client.post(
            "/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False
        )
        assert response.status_code == 403
        assert "表单已过期" in response.text

    def test_login_is_rate_limited(self, client: ConsoleClient, admin: Principal) -> None:
        for _ in range(10):
            client.submit("/login", {"username": "admin", "password": "nope-nope"})
        response = client.submit("/login", {"username": "admin", "password": PASSWORD})
        assert response.status_code == 429
        assert "尝试次数过多" in response.text

    def test_deactivated_user_loses_session(
        self, client: ConsoleClient, admin: Principal, make_user: Any, database: Any
    ) -> None:
        make_user(Role.OPERATOR, "ops")
        other = ConsoleClient(client.app, base_url="http://testserver")
        other.login("ops")
        assert other.get("/console").status_code == 200
        client.login("admin")
        from tests.conftest import get_user

        ops = get_user(database, "ops")
        response = client.submit(f"/console/users/{ops.id}/active", {"active": "0"})
        assert response.status_code == 303
        assert other.get("/console", follow_redirects=False).status_code == 303
        assert count_rows(database, AuditEvent) == 1


class TestApiTokens:
    def test_token_from_password_then_me(self, app: Any, admin: Principal) -> None:
        from fastapi.testclient import TestClient

        with TestClient(app) as api:
            response = api.post(
                "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
            )
            assert response.status_code == 200
            token = response.json()["token"]
            me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert me.json()["role"] == "admin"

    def test_missing_or_bad_token_is_401_with_code(self, app: Any) -> None:
        from fastapi.testclient import TestClient

        with TestClient(app) as api:
            assert api.get("/api/v1/me").json()["error"] == "authentication_required"
            bad = api.get("/api/v1/me", headers={"Authorization": "Bearer siyu_nope"})
            assert bad.status_code == 401

    def test_revoked_token_stops_working(self, api_as: Any, admin: Principal) -> None:
        api = api_as(admin)
        created = api.post("/api/v1/tokens", json={"name": "script"}).json()
        headers = {"Authorization": f"Bearer {created['token']}"}
        assert api.get("/api/v1/me", headers=headers).status_code == 200
        assert api.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
        assert api.get("/api/v1/me", headers=headers).status_code == 401

    def test_only_admin_lists_users(self, api_as: Any, make_user: Any) -> None:
        operator = make_user(Role.OPERATOR, "ops")
        response = api_as(operator).get("/api/v1/users")
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"


class TestOneCommitPerRequest:
    def test_failed_commit_is_an_error_response_not_ok(self, app: Any, admin: Principal) -> None:
        from fastapi.testclient import TestClient
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        from siyu.db import get_database

        def fail(_session: Session) -> None:
            raise RuntimeError("disk full")

        maker = get_database().sessions
        event.listen(maker, "before_commit", fail)
        try:
            with TestClient(app, raise_server_exceptions=False) as api:
                response = api.post(
                    "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
                )
        finally:
            event.remove(maker, "before_commit", fail)
        assert response.status_code == 500
        from siyu.models import ApiToken

        assert count_rows(get_database(), ApiToken) == 0
