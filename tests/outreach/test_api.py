"""JSON API /api/v1/broadcasts and the console pages: compose, plan, start, results with
clicks / orders / GMV, recipients (logged reads), scope by principal, errors in English."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from siyu.db import Database
from siyu.kit.time import travel_to, utc_now
from siyu.models import Click, Contact, PersonalDataAccess, Role
from siyu.models.outreach import Broadcast, BroadcastSend
from siyu.outreach import tasks
from tests.outreach.conftest import TUESDAY_10, add_account, add_contacts, make_segment


def _segment(
    database: Database, owner: int | None = None, principal: Any = None
) -> tuple[int, list[int]]:
    with database.sessions() as session:
        account = add_account(session, "福利官", owner=owner)
        contacts, _people = add_contacts(session, account, 3, owner=owner)
        segment = make_segment(session, principal, [account])
        session.commit()
    return segment, contacts


def _body(segment_id: int, **values: Any) -> dict[str, Any]:
    body = {
        "name": "双十一券",
        "audience": {"kind": "segment", "segment_id": segment_id},
        "text": "{昵称}，内购券到账",
        "messages_per_minute": 60,
        "jitter_seconds": 0,
    }
    body.update(values)
    return body


class TestApi:
    def test_compose_plan_start_and_results(
        self, api_as: Any, make_user: Any, database: Database
    ) -> None:
        operator = make_user(Role.OPERATOR, "ops")
        segment, _contacts = _segment(database)
        api = api_as(operator)
        with travel_to(TUESDAY_10):
            preview = api.post("/api/v1/broadcasts/preview", json=_body(segment, text="全网最低价"))
            assert preview.status_code == 200
            assert (preview.json()["audience"], preview.json()["reachable"]) == (3, 3)
            assert preview.json()["blocking"] is True
            created = api.post("/api/v1/broadcasts", json=_body(segment))
            assert created.status_code == 201, created.text
            data = created.json()
            assert data["status"] == "draft"
            assert (data["plan"]["now"], data["plan"]["later"], data["plan"]["never"]) == (3, 0, 0)
            started = api.post(f"/api/v1/broadcasts/{data['id']}/start", json={})
            assert started.json()["status"] == "scheduled"
        for second in range(8):
            with travel_to(TUESDAY_10 + timedelta(seconds=second)):
                tasks.drain_queue()
        results = api.get(f"/api/v1/broadcasts/{data['id']}/results").json()
        assert (results["sent"], results["skipped"], results["failed"]) == (3, 0, 0)
        assert api.get("/api/v1/broadcasts").json()[0]["id"] == data["id"]

    def test_plan_preview_writes_nothing(
        self, api_as: Any, make_user: Any, database: Database
    ) -> None:
        operator = make_user(Role.OPERATOR, "ops")
        segment, contacts = _segment(database)
        with database.sessions() as session:
            session.execute(
                update(Contact).where(Contact.id == contacts[0]).values(marketing_opt_out=True)
            )
            session.commit()
        with travel_to(TUESDAY_10):
            preview = api_as(operator).post("/api/v1/broadcasts/plan-preview", json=_body(segment))
        assert preview.status_code == 200, preview.text
        plan = preview.json()
        assert (plan["now"], plan["later"], plan["never"]) == (2, 0, 1)
        assert plan["never_reasons"] == {"opted_out": 1}
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Broadcast)) == 0
            assert session.scalar(select(func.count()).select_from(BroadcastSend)) == 0

    def test_blocked_copy_is_422_in_english_and_nothing_written(
        self, api_as: Any, make_user: Any, database: Database
    ) -> None:
        operator = make_user(Role.OPERATOR, "ops")
        segment, _ = _segment(database)
        response = api_as(operator).post(
            "/api/v1/broadcasts", json=_body(segment, text="转发到3个群后领取红包")
        )
        assert response.status_code == 422
        assert response.json()["error"] == "compliance_blocked"
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Broadcast)) == 0
            assert session.scalar(select(func.count()).select_from(BroadcastSend)) == 0

    def test_recipients_are_logged_reads(
        self, api_as: Any, make_user: Any, database: Database
    ) -> None:
        operator = make_user(Role.OPERATOR, "ops")
        segment, _ = _segment(database)
        api = api_as(operator)
        with travel_to(TUESDAY_10):
            broadcast_id = api.post("/api/v1/broadcasts", json=_body(segment)).json()["id"]
        rows = api.get(f"/api/v1/broadcasts/{broadcast_id}/recipients").json()
        assert len(rows) == 3
        with database.sessions() as session:
            reads = session.scalars(select(PersonalDataAccess)).all()
            assert len(reads) == 3
            assert {read.purpose for read in reads} == {f"broadcast:{broadcast_id}"}
            assert {read.actor_user_id for read in reads} == {operator.user_id}

    def test_a_promoter_sees_only_their_own(
        self, api_as: Any, make_user: Any, database: Database, make_promoter: Any
    ) -> None:
        alice = make_promoter("王小明", 1)
        bob = make_promoter("李四", 2)
        segment, _ = _segment(database, owner=alice.id, principal=alice.principal)
        with travel_to(TUESDAY_10):
            created = api_as(alice.principal).post("/api/v1/broadcasts", json=_body(segment))
        assert created.status_code == 201, created.text
        broadcast_id = created.json()["id"]
        other = api_as(bob.principal)
        assert other.get(f"/api/v1/broadcasts/{broadcast_id}").status_code == 404
        assert other.post(f"/api/v1/broadcasts/{broadcast_id}/cancel").status_code == 404
        assert other.get("/api/v1/broadcasts").json() == []
        # Bob cannot aim at Alice's segment either.
        refused = other.post("/api/v1/broadcasts", json=_body(segment))
        assert refused.status_code == 422
        assert refused.json()["error"] == "broadcast_audience_invalid"

    def test_a_merchant_is_refused(self, api_as: Any, make_user: Any, catalog: Any) -> None:
        merchant = make_user(Role.MERCHANT, "shop", merchant_id=catalog.merchant("甲品牌"))
        assert api_as(merchant).get("/api/v1/broadcasts").status_code == 403


class TestConsole:
    def test_composer_preview_and_detail(
        self, client: Any, make_user: Any, database: Database
    ) -> None:
        make_user(Role.OPERATOR, "ops")
        segment, _ = _segment(database)
        client.login("ops")
        assert "新建群发" in client.get("/console/broadcasts").text
        page = client.get("/console/broadcasts/new")
        assert page.status_code == 200
        form = {
            "name": "双十一券",
            "audience_kind": "segment",
            "segment_id": str(segment),
            "content_kind": "text",
            "text": "全网最低价，快来",
            "messages_per_minute": "60",
            "jitter_seconds": "0",
        }
        with travel_to(TUESDAY_10):
            planned = client.post(
                "/console/broadcasts/plan-preview", data={**form, "text": "内购券到账"}
            )
        assert 'data-testid="plan-now">3<' in planned.text
        preview = client.post("/console/broadcasts/preview", data=form)
        assert 'data-testid="preview-audience">3<' in preview.text
        assert "禁止" in preview.text
        refused = client.submit("/console/broadcasts", form)
        assert refused.status_code == 422
        assert "禁止内容" in refused.text
        with travel_to(utc_now()):
            saved = client.submit("/console/broadcasts", {**form, "text": "{昵称}，内购券到账"})
        assert saved.status_code == 303
        detail = client.get(saved.headers["location"])
        assert detail.status_code == 200
        assert 'data-testid="broadcast-plan"' in detail.text
        assert 'data-testid="result-gmv">¥0.00<' in detail.text
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(PersonalDataAccess)) == 3

    def test_a_promoter_composes_and_cannot_open_others(
        self, client: Any, database: Database, make_promoter: Any, api_as: Any
    ) -> None:
        alice = make_promoter("王小明", 1)
        bob = make_promoter("李四", 2)
        segment, _ = _segment(database, owner=alice.id, principal=alice.principal)
        with travel_to(TUESDAY_10):
            created = api_as(alice.principal).post("/api/v1/broadcasts", json=_body(segment))
        client.login(bob.principal.username)
        assert client.get("/console/broadcasts/new").status_code == 200
        assert client.get(f"/console/broadcasts/{created.json()['id']}").status_code == 404
        assert "还没有群发" in client.get("/console/broadcasts").text


class TestAttribution:
    def test_clicks_and_orders_count_per_broadcast(
        self, database: Database, make_promoter: Any, catalog: Any
    ) -> None:
        from siyu.links import service as links
        from siyu.links.schemas import LinkCreate
        from siyu.models import LinkPosition
        from siyu.orders import service as orders
        from siyu.orders.schemas import DraftLine, OrderDraft
        from siyu.outreach import service
        from tests.outreach.conftest import broadcast_in

        alice = make_promoter("王小明", 1)
        merchant = catalog.merchant("甲品牌旗舰店")
        product = catalog.approved(merchant, title="拉杆箱 20 寸")
        with travel_to(TUESDAY_10), database.sessions() as session:
            source = links.create_link(
                session,
                alice.principal,
                LinkCreate(product_id=product, position=LinkPosition.GROUP),
            )
            account = add_account(session, "小明的号", owner=alice.id)
            add_contacts(session, account, 2, owner=alice.id)
            segment = make_segment(session, alice.principal, [account])
            broadcast = service.create_broadcast(
                session,
                alice.principal,
                broadcast_in(segment, content_kind="product", link_id=source.id, title="拉杆箱"),
            )
            link_id = broadcast.link_id
            assert link_id is not None
            assert link_id != source.id
            own = links.get_link(session, None, link_id)
            assert (own.sub_id, own.promoter_id, own.product_id) == (
                f"群发#{broadcast.id}",
                alice.id,
                product,
            )
            session.add(
                Click(
                    token="t" * 32,
                    link_id=link_id,
                    promoter_id=alice.id,
                    clicked_at=TUESDAY_10,
                    ip_hash="0" * 64,
                    user_agent="",
                )
            )
            session.commit()
            results = service.results(session, alice.principal, broadcast.id)
            assert (results.clicks, results.orders, results.gmv_fen) == (1, 0, 0)
        # The buyer orders after the click: the order is attributed to the broadcast's link.
        with travel_to(TUESDAY_10 + timedelta(minutes=5)), database.sessions() as session:
            order = orders.place_order(
                session,
                OrderDraft(
                    lines=(DraftLine(product_id=product, quantity=2),),
                    phone="13900000001",
                    nickname="买家",
                    click_token="t" * 32,
                ),
            )
            session.commit()
            results = service.results(session, alice.principal, broadcast.id)
            assert (results.clicks, results.orders) == (1, 1)
            assert results.gmv_fen == order.paid_fen
            assert results.gmv_fen > 0
