"""Console pages: contacts (masked, scoped, logged), the segment builder's live count, tags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from siyu.models import Merchant, MerchantStatus, PersonalDataAccess, Role
from siyu.models.segments import Segment
from tests.conftest import ConsoleClient
from tests.segments.conftest import Scene


def logged_in(client: ConsoleClient, make_user: Any, role: Role, name: str, **ids: Any) -> Any:
    principal = make_user(role, name, **ids)
    client.login(name)
    return principal


class TestContactsPage:
    def test_operator_sees_platform_contacts_masked_and_logged(
        self, client: ConsoleClient, make_user: Any, scene: Scene
    ) -> None:
        ops = logged_in(client, make_user, Role.OPERATOR, "ops")
        page = client.get("/console/contacts")
        assert page.status_code == 200
        assert "共 5 人" in page.text
        assert "小美" in page.text
        assert "浙江省杭州市西湖区" in page.text
        assert "138****" in page.text
        scene.pool.session.expire_all()
        log = scene.pool.session.scalars(select(PersonalDataAccess)).all()
        assert len(log) == 5  # one row per person shown
        assert {(row.actor_user_id, row.purpose) for row in log} == {
            (ops.user_id, "console.contacts (own contacts)")
        }

    def test_filters_narrow_the_list(
        self, client: ConsoleClient, make_user: Any, scene: Scene
    ) -> None:
        logged_in(client, make_user, Role.OPERATOR, "ops")
        page = client.get("/console/contacts", params={"tier": "tier_6"})
        assert "共 1 人" in page.text
        page = client.get("/console/contacts", params={"province": "330000", "stage": "customer"})
        assert "共 1 人" in page.text

    def test_pages_keep_the_filters(
        self, client: ConsoleClient, make_user: Any, scene: Scene, monkeypatch: Any
    ) -> None:
        from siyu.web import segment_pages

        monkeypatch.setattr(segment_pages, "PAGE_SIZE", 2)
        logged_in(client, make_user, Role.OPERATOR, "ops")
        page = client.get("/console/contacts", params={"state": "confirmed", "tier": ""})
        assert "第 1 / 2 页，共 3 条" in page.text
        assert 'href="?state=confirmed&amp;tier=&amp;page=2"' in page.text

    def test_promoter_sees_only_their_own(
        self, client: ConsoleClient, make_user: Any, scene: Scene
    ) -> None:
        logged_in(client, make_user, Role.PROMOTER, "wang", promoter_id=scene.promoter_id)
        page = client.get("/console/contacts", params={"everyone": "1"})
        assert "共 1 人" in page.text
        assert f"<td>{scene.ids['k6']}</td>" in page.text
        assert f"<td>{scene.ids['k1']}</td>" not in page.text

    def test_admin_may_look_at_everyone(
        self, client: ConsoleClient, make_user: Any, scene: Scene
    ) -> None:
        logged_in(client, make_user, Role.ADMIN, "boss")
        page = client.get("/console/contacts", params={"everyone": "1"})
        assert "共 6 人" in page.text
        scene.pool.session.expire_all()
        log = scene.pool.session.scalars(select(PersonalDataAccess)).all()
        assert {row.purpose for row in log} == {"console.contacts (all owners)"}

    def test_merchant_is_refused(self, client: ConsoleClient, make_user: Any, scene: Scene) -> None:
        merchant = Merchant(name="行者箱包", contact_name="", status=MerchantStatus.ACTIVE)
        scene.pool.session.add(merchant)
        scene.pool.session.commit()
        logged_in(client, make_user, Role.MERCHANT, "shop", merchant_id=merchant.id)
        assert client.get("/console/contacts").status_code == 403


class TestSegmentBuilder:
    def test_live_count_and_save(self, client: ConsoleClient, make_user: Any, scene: Scene) -> None:
        logged_in(client, make_user, Role.OPERATOR, "ops")
        assert client.get("/console/segments").status_code == 200
        form = {"tiers": ["tier_5", "tier_6"], "name": "下沉"}
        counted = client.post("/console/segments/count", data=form)
        assert "匹配 <b>2</b> 人" in counted.text
        assert "其中可触达 1 人" in counted.text
        saved = client.submit("/console/segments", form)
        assert saved.status_code == 303
        segment = scene.pool.session.scalars(select(Segment)).one()
        assert segment.rule["conditions"] == [{"kind": "tier", "tiers": ["tier_5", "tier_6"]}]
        segment_id = segment.id
        scene.pool.session.rollback()  # SQLite: a read holds the write lock until it ends
        detail = client.get(saved.headers["location"])
        assert "当前匹配 <b>2</b> 人" in detail.text
        exported = client.get(f"/console/segments/{segment_id}/export.csv")
        assert exported.status_code == 200
        assert exported.text.startswith("\ufeff联系人ID,")
        assert len(exported.text.strip().splitlines()) == 3

    def test_a_bad_rule_answers_in_chinese(
        self, client: ConsoleClient, make_user: Any, scene: Scene
    ) -> None:
        logged_in(client, make_user, Role.OPERATOR, "ops")
        counted = client.post("/console/segments/count", data={"rule_json": "{oops"})
        assert "人群规则有误" in counted.text
        counted = client.post("/console/segments/count", data={"spend_min": "abc"})
        assert 'data-testid="segment-count-error"' in counted.text
        script = client.post("/console/segments/count", data={"spend_min": "<script>x</script>"})
        assert "<script>" not in script.text
        assert "&lt;script&gt;" in script.text

    def test_region_options(self, client: ConsoleClient, make_user: Any, scene: Scene) -> None:
        logged_in(client, make_user, Role.OPERATOR, "ops")
        options = client.get("/console/regions/options", params={"province": "330000"})
        assert '<option value="330100">杭州市</option>' in options.text
        assert client.get("/console/regions/options").text == '<option value="">（不限）</option>'


class TestTagsPage:
    def test_create_and_apply(self, client: ConsoleClient, make_user: Any, scene: Scene) -> None:
        logged_in(client, make_user, Role.OPERATOR, "ops")
        assert client.submit("/console/tags", {"name": "高意向"}).status_code == 303
        page = client.get("/console/tags")
        assert "高意向" in page.text
        from siyu.models.segments import Tag

        scene.pool.session.expire_all()
        tag_id = scene.pool.session.scalars(select(Tag.id).where(Tag.name == "高意向")).one()
        scene.pool.session.rollback()  # SQLite: a read holds the write lock until it ends
        applied = client.submit(
            f"/console/tags/{tag_id}/contacts", {"contact_ids": f"{scene.ids['k1']}"}
        )
        assert applied.status_code == 303
        tag = scene.pool.session.get(Tag, tag_id)
        assert tag is not None
        assert tag.contacts_count == 1
