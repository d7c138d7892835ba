"""Blocking findings stop a send unless an admin overrides with a reason; pages, API and CLI."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.auth.principal import Principal
from siyu.cli.main import app as cli
from siyu.compliance import service
from siyu.compliance.rules import TextKind
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.models import AuditEvent, Role
from tests.conftest import ConsoleClient, count_rows

BAD = "转发到3个群即可领取拉杆箱"
GOOD = "分享给需要的朋友"


def operator() -> Principal:
    return Principal(user_id=2, username="ops", display_name="运营", role=Role.OPERATOR)


class TestRequirePublishable:
    def test_clean_text_passes_without_audit(self, session: Session) -> None:
        assert (
            service.require_publishable(
                session, operator(), GOOD, TextKind.BROADCAST, object_type="broadcast", object_id=1
            )
            == []
        )
        session.flush()
        assert session.scalars(select(AuditEvent)).all() == []

    def test_warnings_do_not_block(self, session: Session) -> None:
        findings = service.require_publishable(
            session, operator(), "原价199现价59", TextKind.SCRIPT, object_type="x", object_id=None
        )
        assert [f.rule_id for f in findings] == ["reference_price"]

    def test_blocking_finding_stops_the_send(self, session: Session) -> None:
        with pytest.raises(service.ComplianceBlocked) as raised:
            service.require_publishable(
                session, operator(), BAD, TextKind.MOMENT, object_type="moment", object_id=7
            )
        assert "share_count_target" in raised.value.en
        assert "诱导分享" in raised.value.zh

    def test_only_an_admin_overrides(self, session: Session, database: Database) -> None:
        with pytest.raises(PermissionDenied):
            service.require_publishable(
                session,
                operator(),
                BAD,
                TextKind.MOMENT,
                object_type="moment",
                object_id=7,
                override_reason="客户坚持要发",
            )
        session.rollback()
        assert count_rows(database, AuditEvent) == 0

    def test_admin_override_needs_a_reason_and_is_audited(
        self, session: Session, database: Database, admin: Principal
    ) -> None:
        with pytest.raises(service.OverrideReasonRequired):
            service.require_publishable(
                session,
                admin,
                BAD,
                TextKind.MOMENT,
                object_type="m",
                object_id=7,
                override_reason="  ok ",
            )
        findings = service.require_publishable(
            session,
            admin,
            BAD,
            TextKind.MOMENT,
            object_type="moment",
            object_id=7,
            override_reason="内部员工测试群，不对外发布",
        )
        session.commit()
        assert {f.rule_id for f in findings} >= {"share_count_target"}
        with database.sessions() as check:
            [event] = check.scalars(select(AuditEvent)).all()
            assert (event.action, event.object_type, event.object_id) == (
                "compliance.overridden",
                "moment",
                7,
            )
            assert event.reason == "内部员工测试群，不对外发布"
            assert event.detail["rules"] == ["share_count_target", "share_for_reward"]

    def test_text_too_long(self) -> None:
        with pytest.raises(service.TextTooLong):
            service.lint_text("好" * 5001)


class TestPagesAndApi:
    def test_console_page_shows_findings_with_fixes(
        self, client: ConsoleClient, admin: Principal
    ) -> None:
        client.login("admin")
        assert "文案合规检查" in client.get("/console/compliance").text
        page = client.submit("/console/compliance", {"text": BAD, "kind": "moment"})
        assert page.status_code == 200
        assert 'data-rule="share_count_target"' in page.text
        assert "不能直接发送" in page.text
        assert "《微信外部链接内容管理规范》" in page.text
        clean = client.submit("/console/compliance", {"text": GOOD, "kind": "moment"})
        assert "未发现问题" in clean.text

    def test_console_page_refuses_over_long_text_in_chinese(
        self, client: ConsoleClient, admin: Principal
    ) -> None:
        client.login("admin")
        page = client.submit("/console/compliance", {"text": "好" * 5001, "kind": "moment"})
        assert page.status_code == 422
        assert "一次最多检查 5000 字" in page.text

    def test_api(self, api_as: Any, admin: Principal) -> None:
        api = api_as(admin)
        body = api.post("/api/v1/compliance/lint", json={"text": BAD, "kind": "moment"}).json()
        assert body["blocking"] is True
        assert body["findings"][0]["rule_id"] == "share_count_target"
        assert body["findings"][0]["severity"] == "block"
        bad_kind = api.post("/api/v1/compliance/lint", json={"text": BAD, "kind": "sms"})
        assert bad_kind.status_code == 422

    def test_api_needs_a_token(self, client: ConsoleClient) -> None:
        assert client.post("/api/v1/compliance/lint", json={"text": GOOD}).status_code == 401


class TestCli:
    def test_blocking_text_exits_1_and_clean_text_0(self) -> None:
        runner = CliRunner()
        bad = runner.invoke(cli, ["lint", BAD])
        assert bad.exit_code == 1
        assert "share_count_target" in bad.output
        good = runner.invoke(cli, ["lint", GOOD, "--kind", "script"])
        assert (good.exit_code, "未发现问题" in good.output) == (0, True)
        unknown = runner.invoke(cli, ["lint", GOOD, "--kind", "sms"])
        assert unknown.exit_code == 1
        assert "未知的 --kind" in unknown.output
