"""Console pages: 话术库, 会话流程 (step editor), conversations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.flows import rules
from siyu.flows import service as flows
from siyu.jobs import JobQueue
from siyu.models.flows import Conversation, Flow, FlowStatus, Script
from siyu.models.privacy import PersonalDataAccess
from tests.conftest import ConsoleClient
from tests.flows.conftest import make_contact, style_flow


def rows(*steps: dict[str, str]) -> dict[str, list[str]]:
    from siyu.web.flow_pages import ROW_FIELDS

    return {field: [step.get(field, "") for step in steps] for field in ROW_FIELDS}


class TestScriptPages:
    def test_create_edit_preview(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        client.login("admin")
        assert "话术库" in client.get("/console/scripts").text
        response = client.submit(
            "/console/scripts", {"name": "欢迎", "category": "开场", "body": "{昵称}您好"}
        )
        assert response.status_code == 303
        detail = client.get(response.headers["location"])
        assert "小王您好" in detail.text  # the preview with sample data
        script_id = int(response.headers["location"].rsplit("/", 1)[1])
        client.submit(f"/console/scripts/{script_id}", {"body": "{昵称}，欢迎", "name": "欢迎"})
        with database.sessions() as session:
            assert session.get_one(Script, script_id).current_version == 2
        preview = client.post("/console/scripts/preview", data={"body": "分享到3个群即可领取"})
        assert 'data-rule="share_count_target"' in preview.text
        assert "有“禁止”级内容" in preview.text
        listing = client.get("/console/scripts?category=开场")
        assert "{昵称}，欢迎" in listing.text

    def test_blocked_body_flashes_in_chinese_and_saves_nothing(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        client.login("admin")
        response = client.submit("/console/scripts", {"name": "x", "body": "转发到3个群即可领取"})
        assert response.status_code == 303
        page = client.get("/console/scripts")
        assert "保存失败：文案有" in page.text
        with database.sessions() as session:
            assert session.scalars(select(Script)).all() == []


class TestFlowPages:
    def test_install_template_and_see_missing_actions(
        self, client: ConsoleClient, admin: Principal, no_campaign_actions: None
    ) -> None:
        client.login("admin")
        response = client.submit("/console/flows/templates", {"template": "luggage_invite"})
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert 'data-testid="flow-unknown-actions"' in page.text
        assert "campaign.check_quota" in page.text
        assert "拉杆箱免费领（专属邀请码版）" in client.get("/console/flows").text

    def test_step_editor_round_trips_and_publishes(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            flow = style_flow(session, publish=False, timeout_minutes=60, on_timeout="bye")
            session.commit()
            flow_id, draft = flow.id, flow.draft
        client.login("admin")
        page = client.get(f"/console/flows/{flow_id}")
        assert "1-3 -&gt; tag" in page.text
        from siyu.web.flow_pages import ROW_FIELDS, row_of

        # What the page shows, posted back unchanged, is the same draft; then publish.
        steps = [row_of(step) for step in rules.steps_of(draft)]
        form: dict[str, Any] = {field: [s[field] for s in steps] + [""] for field in ROW_FIELDS}
        form.update({"name": "选款", "publish": "1"})
        response = client.submit(f"/console/flows/{flow_id}", form)
        assert response.status_code == 303
        with database.sessions() as session:
            saved = session.get_one(Flow, flow_id)
            assert saved.draft["steps"] == draft["steps"]
            assert (saved.status, saved.versions_count) == (FlowStatus.PUBLISHED, 1)

    def test_editor_rows_become_steps(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            flow_id = flows.create_flow(
                session, None, "x", [{"id": "a", "type": "send", "text": "hi"}]
            ).id
            session.commit()
        client.login("admin")
        form: dict[str, Any] = rows(
            {"id": "hi", "type": "send", "text": "您好"},
            {
                "id": "ask",
                "type": "wait",
                "match": "1-3 -> act\n* -> human",
                "save_as": "n",
                "timeout": "30",
                "reminder": "10",
                "reminder_text": "还在吗",
                "on_timeout": "human",
            },
            {
                "id": "act",
                "type": "action",
                "action": "contact.tag",
                "params": "tag=款式{n}",
                "routes": "tagged -> br",
            },
            {"id": "br", "type": "branch", "routes": "n = 1 -> human", "next": "end"},
            {"id": "human", "type": "handover", "text": "请人工跟进"},
            {"id": "end", "type": "end"},
        )
        client.submit(f"/console/flows/{flow_id}", form)
        with database.sessions() as session:
            steps = session.get_one(Flow, flow_id).draft["steps"]
        assert steps == [
            {"id": "hi", "type": "send", "text": "您好"},
            {
                "id": "ask",
                "type": "wait",
                "match": [
                    {"kind": "number", "next": "act", "min": 1, "max": 3},
                    {"kind": "any", "next": "human"},
                ],
                "save_as": "n",
                "timeout_minutes": 30,
                "reminder_minutes": 10,
                "reminder_text": "还在吗",
                "on_timeout": "human",
            },
            {
                "id": "act",
                "type": "action",
                "action": "contact.tag",
                "params": {"tag": "款式{n}"},
                "on": {"tagged": "br"},
            },
            {
                "id": "br",
                "type": "branch",
                "next": "end",
                "branches": [{"var": "n", "op": "eq", "value": "1", "next": "human"}],
            },
            {"id": "human", "type": "handover", "text": "请人工跟进"},
            {"id": "end", "type": "end"},
        ]

    def test_publish_refused_for_unknown_actions_keeps_the_saved_draft(
        self, client: ConsoleClient, admin: Principal, database: Database, no_campaign_actions: None
    ) -> None:
        with database.sessions() as session:
            flow_id = flows.create_flow(
                session, None, "x", [{"id": "a", "type": "send", "text": "hi"}]
            ).id
            session.commit()
        client.login("admin")
        form: dict[str, Any] = rows({"id": "q", "type": "action", "action": "campaign.check_quota"})
        form["publish"] = "1"
        client.submit(f"/console/flows/{flow_id}", form)
        page = client.get(f"/console/flows/{flow_id}")
        assert "草稿已保存，但发布失败：流程使用了尚未注册的动作：campaign.check_quota" in page.text
        with database.sessions() as session:
            saved = session.get_one(Flow, flow_id)
            assert saved.draft["steps"] == [
                {"id": "q", "type": "action", "action": "campaign.check_quota"}
            ]
            assert (saved.status, saved.versions_count) == (FlowStatus.DRAFT, 0)

    def test_bad_rule_syntax_flashes_and_keeps_the_draft(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            flow = style_flow(session, publish=False)
            session.commit()
            flow_id, draft = flow.id, flow.draft
        client.login("admin")
        form = rows({"id": "w", "type": "wait", "match": "5-1 -> x"})
        client.submit(f"/console/flows/{flow_id}", form)
        assert "保存失败" in client.get(f"/console/flows/{flow_id}").text
        with database.sessions() as session:
            assert session.get_one(Flow, flow_id).draft == draft


class TestConversationPages:
    def test_list_and_detail_log_the_read(
        self, client: ConsoleClient, admin: Principal, database: Database, queue: JobQueue
    ) -> None:
        with database.sessions() as session:
            contact = make_contact(session)
            flow = style_flow(session)
            conversation = flows.start_conversation(session, flow.id, contact.id)
            session.commit()
            ids = (flow.id, conversation.id, contact.consumer_id)
        client.login("admin")
        listing = client.get(f"/console/flows/{ids[0]}/conversations")
        assert f'href="/console/conversations/{ids[1]}"' in listing.text
        assert "等待回复" in listing.text
        detail = client.get(f"/console/conversations/{ids[1]}")
        assert "小李您好，请回复款式编号 1-3。" in detail.text
        with database.sessions() as session:
            rows_ = session.scalars(select(PersonalDataAccess)).all()
            assert [(r.subject_id, r.purpose) for r in rows_][:2] == [
                (ids[2], "console.flow_conversations"),
                (ids[2], "console.conversation_detail"),
            ]
        assert 'data-testid="simulate-form"' in detail.text
        reply = client.submit(f"/console/conversations/{ids[1]}/simulate", {"text": "2号"})
        assert reply.status_code == 303
        queue.run_pending()
        with database.sessions() as session:
            advanced = session.get_one(Conversation, ids[1])
            assert (advanced.status.value, advanced.variables["款式"]) == ("completed", "2")
        assert "好的，您选了 2 号。" in client.get(f"/console/conversations/{ids[1]}").text
        response = client.submit(f"/console/conversations/{ids[1]}/cancel")
        assert response.status_code == 303
        assert (
            "取消失败：该会话已结束（已完成）"
            in client.get(f"/console/conversations/{ids[1]}").text
        )
