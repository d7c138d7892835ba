"""JSON API: /api/v1/scripts, /api/v1/flows, /api/v1/conversations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.jobs import JobQueue
from siyu.models.privacy import PersonalDataAccess
from tests.flows.conftest import make_contact, say
from tests.promoters.conftest import MadePromoter

Make = Callable[..., MadePromoter]
STEPS = [
    {"id": "hi", "type": "send", "text": "{昵称}您好，回复 1 或 2"},
    {
        "id": "pick",
        "type": "wait",
        "save_as": "n",
        "match": [{"kind": "number", "min": 1, "max": 2}],
    },
    {"id": "done", "type": "send", "text": "收到 {n}"},
]


class TestScriptsApi:
    def test_create_version_list_preview(self, api_as: Any, admin: Principal) -> None:
        api = api_as(admin)
        created = api.post("/api/v1/scripts", json={"name": "欢迎", "body": "{昵称}您好"})
        assert created.status_code == 201, created.text
        script_id = created.json()["id"]
        updated = api.patch(f"/api/v1/scripts/{script_id}", json={"body": "{昵称}，欢迎"})
        assert updated.json()["current_version"] == 2
        assert [v["version"] for v in updated.json()["versions"]] == [2, 1]
        assert [s["body"] for s in api.get("/api/v1/scripts").json()] == ["{昵称}，欢迎"]
        preview = api.post("/api/v1/scripts/preview", json={"body": "{昵称}，分享到3个群领取"})
        assert preview.json()["text"] == "小王，分享到3个群领取"
        assert preview.json()["publishable"] is False

    def test_archived_script_leaves_the_list_and_cannot_be_published(
        self, api_as: Any, admin: Principal
    ) -> None:
        api = api_as(admin)
        script_id = api.post("/api/v1/scripts", json={"name": "旧", "body": "旧话术"}).json()["id"]
        flow_id = api.post(
            "/api/v1/flows",
            json={"name": "x", "steps": [{"id": "a", "type": "send", "script_id": script_id}]},
        ).json()["id"]
        assert api.post(f"/api/v1/scripts/{script_id}/archive").json()["archived"] is True
        assert api.get("/api/v1/scripts").json() == []
        response = api.post(f"/api/v1/flows/{flow_id}/publish")
        assert (response.status_code, response.json()["error"]) == (422, "flow_scripts_missing")

    def test_blocked_script_is_422_with_code(self, api_as: Any, admin: Principal) -> None:
        response = api_as(admin).post(
            "/api/v1/scripts", json={"name": "x", "body": "转发到3个群即可领取"}
        )
        assert response.status_code == 422
        assert response.json()["error"] == "compliance_blocked"
        assert api_as(admin).get("/api/v1/scripts").json() == []


class TestFlowsApi:
    def test_unknown_action_fails_publish_with_the_names(
        self, api_as: Any, admin: Principal
    ) -> None:
        api = api_as(admin)
        flow = api.post(
            "/api/v1/flows",
            json={"name": "x", "steps": [{"id": "a", "type": "action", "action": "campaign.nope"}]},
        )
        assert flow.status_code == 201
        assert flow.json()["unknown_actions"] == ["campaign.nope"]
        response = api.post(f"/api/v1/flows/{flow.json()['id']}/publish")
        assert response.status_code == 422
        assert response.json() == {
            "error": "flow_actions_unknown",
            "detail": "The flow uses actions that are not registered: campaign.nope",
            "detail_zh": "流程使用了尚未注册的动作：campaign.nope"
            "（相关功能上线后才能发布或启动）。",
        }

    def test_invalid_definition(self, api_as: Any, admin: Principal) -> None:
        response = api_as(admin).post(
            "/api/v1/flows",
            json={"name": "x", "steps": [{"id": "a", "type": "send", "next": "zz"}]},
        )
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "The flow has problems: step 'a' goes to unknown step 'zz'; "
            "step 'a': a send step needs a script or a text"
        )

    def test_archived_flow_takes_no_new_conversations(
        self, api_as: Any, admin: Principal, database: Database
    ) -> None:
        api = api_as(admin)
        flow_id = api.post("/api/v1/flows", json={"name": "x", "steps": STEPS}).json()["id"]
        api.post(f"/api/v1/flows/{flow_id}/publish")
        assert api.post(f"/api/v1/flows/{flow_id}/archive").json()["status"] == "archived"
        with database.sessions() as session:
            contact_id = make_contact(session).id
            session.commit()
        response = api.post(
            "/api/v1/conversations", json={"flow_id": flow_id, "contact_id": contact_id}
        )
        assert (response.status_code, response.json()["error"]) == (409, "flow_archived")
        assert api.get("/api/v1/conversations").json() == []

    def test_install_template(
        self, api_as: Any, admin: Principal, no_campaign_actions: None
    ) -> None:
        response = api_as(admin).post(
            "/api/v1/flows/templates", json={"template": "luggage_invite"}
        )
        assert response.status_code == 201
        assert (response.json()["status"], response.json()["template_key"]) == (
            "draft",
            "luggage_invite",
        )


class TestConversationsApi:
    def test_start_read_and_access_log(
        self, api_as: Any, admin: Principal, database: Database, queue: JobQueue
    ) -> None:
        api = api_as(admin)
        flow_id = api.post("/api/v1/flows", json={"name": "x", "steps": STEPS}).json()["id"]
        assert api.post(f"/api/v1/flows/{flow_id}/publish").status_code == 201
        with database.sessions() as session:
            contact = make_contact(session)
            session.commit()
            contact_id, consumer_id = contact.id, contact.consumer_id
        started = api.post(
            "/api/v1/conversations", json={"flow_id": flow_id, "contact_id": contact_id}
        )
        assert started.status_code == 201, started.text
        again = api.post(
            "/api/v1/conversations", json={"flow_id": flow_id, "contact_id": contact_id}
        )
        assert again.json()["id"] == started.json()["id"]
        with database.sessions() as session:
            from siyu.models import Contact

            say(session, session.get_one(Contact, contact_id), "2", "1")
            session.commit()
        queue.run_pending()
        detail = api.get(f"/api/v1/conversations/{started.json()['id']}").json()
        assert detail["status"] == "completed"
        assert detail["variables"] == {"昵称": "小李", "n": "2"}
        assert [(m["direction"], m["text"]) for m in detail["messages"]] == [
            ("out", "小李您好，回复 1 或 2"),
            ("in", "2"),
            ("out", "收到 2"),
        ]
        listed = api.get(f"/api/v1/conversations?flow_id={flow_id}&status=completed").json()
        assert [c["id"] for c in listed] == [started.json()["id"]]
        with database.sessions() as session:
            rows = session.scalars(select(PersonalDataAccess)).all()
            assert [(r.subject_id, r.purpose, r.fields) for r in rows] == [
                (consumer_id, "api.conversation", "nickname,messages"),
                (consumer_id, "api.conversations", "nickname,messages"),
            ]

    def test_promoter_sees_only_own_contacts_conversations(
        self, api_as: Any, admin: Principal, database: Database, make_promoter: Make
    ) -> None:
        alice = make_promoter("甲", 1)
        bob = make_promoter("乙", 2)
        api = api_as(admin)
        flow_id = api.post("/api/v1/flows", json={"name": "x", "steps": STEPS}).json()["id"]
        api.post(f"/api/v1/flows/{flow_id}/publish")
        with database.sessions() as session:
            own = make_contact(session, union_id="a", owner_promoter_id=alice.id)
            other = make_contact(session, union_id="b", owner_promoter_id=bob.id)
            session.commit()
            ids = (own.id, other.id)
        started = [
            api.post("/api/v1/conversations", json={"flow_id": flow_id, "contact_id": cid}).json()
            for cid in ids
        ]
        as_alice = api_as(alice.principal)
        assert [c["id"] for c in as_alice.get("/api/v1/conversations").json()] == [started[0]["id"]]
        assert as_alice.get(f"/api/v1/conversations/{started[1]['id']}").status_code == 404
        assert as_alice.get(f"/api/v1/conversations/{started[0]['id']}").status_code == 200
        assert as_alice.get("/api/v1/flows").status_code == 403
        assert (
            as_alice.post(
                "/api/v1/conversations", json={"flow_id": flow_id, "contact_id": ids[0]}
            ).status_code
            == 403
        )
