"""The script library: versions, compliance on save, overrides, who may manage it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.principal import Principal
from siyu.compliance.service import ComplianceBlocked, OverrideReasonRequired
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.flows import service as flows
from siyu.models import AuditEvent, Role
from siyu.models.flows import Script, ScriptVersion

BLOCKED = "转发到3个群即可领取"


def count(session: Any, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestVersions:
    def test_a_new_body_is_a_new_version_and_the_old_stays(self, database: Database) -> None:
        with database.sessions() as session:
            script = flows.create_script(session, None, "欢迎", "{昵称}您好", category="开场")
            flows.update_script(session, None, script.id, body="{昵称}，欢迎！", name="欢迎语")
            flows.update_script(session, None, script.id, body="{昵称}，欢迎！")  # unchanged
            versions = flows.script_versions(session, None, script.id)
            assert [(v.version, v.body, v.variables) for v in versions] == [
                (2, "{昵称}，欢迎！", ["昵称"]),
                (1, "{昵称}您好", ["昵称"]),
            ]
            assert (script.name, script.category, script.current_version) == ("欢迎语", "开场", 2)

    def test_list_by_category(self, database: Database) -> None:
        with database.sessions() as session:
            flows.create_script(session, None, "甲", "a", category="开场")
            flows.create_script(session, None, "乙", "b", category="售后")
            assert [s.name for s, _ in flows.list_scripts(session, None, "售后")] == ["乙"]
            assert flows.script_categories(session, None) == ["售后", "开场"]

    def test_empty_body_refused(self, database: Database) -> None:
        with database.sessions() as session, pytest.raises(flows.ScriptInvalid):
            flows.create_script(session, None, "空", "  ")

    def test_preview_fills_samples_and_lints(self) -> None:
        result = flows.preview("{昵称}，{区县}还剩{剩余名额}个，{未知}。" + BLOCKED)
        assert result.text == "小王，章贡区还剩12个，{未知}。" + BLOCKED
        assert result.missing == ["未知"]
        assert [f.rule_id for f in result.findings if f.blocking] == [
            "share_count_target",
            "share_for_reward",
        ]
        assert not result.publishable


class TestCompliance:
    def test_blocking_text_is_refused_and_nothing_is_written(
        self, database: Database, make_user: Any
    ) -> None:
        operator: Principal = make_user(Role.OPERATOR, "operator")
        with database.sessions() as session:
            with pytest.raises(ComplianceBlocked):
                flows.create_script(session, operator, "诱导", BLOCKED)
            assert (count(session, Script), count(session, ScriptVersion)) == (0, 0)

    def test_only_an_admin_may_override(self, database: Database, make_user: Any) -> None:
        operator: Principal = make_user(Role.OPERATOR, "operator")
        with database.sessions() as session:
            with pytest.raises(PermissionDenied):
                flows.create_script(session, operator, "诱导", BLOCKED, override_reason="我就要发")
            assert count(session, Script) == 0

    def test_admin_override_is_saved_with_its_reason_and_audited(
        self, database: Database, admin: Principal
    ) -> None:
        with database.sessions() as session:
            with pytest.raises(OverrideReasonRequired):
                flows.create_script(session, admin, "诱导", BLOCKED, override_reason="短")
            script = flows.create_script(
                session, admin, "诱导", BLOCKED, override_reason="对照实验，不对外发送"
            )
            version = flows.current_body(session, script)
            assert (version.override_reason, version.finding_rule_ids) == (
                "对照实验，不对外发送",
                ["share_count_target", "share_for_reward"],
            )
            audit = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "compliance.overridden")
            ).one()
            assert (audit.object_type, audit.object_id, audit.actor_user_id) == (
                "script",
                script.id,
                admin.user_id,
            )

    def test_a_blocking_edit_keeps_the_current_version(
        self, database: Database, admin: Principal
    ) -> None:
        with database.sessions() as session:
            script = flows.create_script(session, admin, "好", "欢迎光临")
            with pytest.raises(ComplianceBlocked):
                flows.update_script(session, admin, script.id, body=BLOCKED, name="新名字")
            assert (script.current_version, script.name) == (1, "好")
            assert count(session, ScriptVersion) == 1


class TestWhoMayManage:
    @pytest.mark.parametrize("role", [Role.MERCHANT, Role.PROMOTER])
    def test_non_staff_are_refused(self, database: Database, role: Role) -> None:
        principal = Principal(user_id=99, username="x", display_name="x", role=role)
        with database.sessions() as session:
            with pytest.raises(PermissionDenied):
                flows.create_script(session, principal, "a", "b")
            with pytest.raises(PermissionDenied):
                flows.list_flows(session, principal)
            with pytest.raises(PermissionDenied):
                flows.install_template(session, principal, "luggage_invite")
