"""Saved segments: who may save and see them, materialised snapshots, masked CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.principal import Principal
from siyu.errors import PermissionDenied
from siyu.models import AuditEvent, Contact, ContactState, PersonalDataAccess, Role
from siyu.models.segments import Segment, SegmentSnapshot, SegmentSnapshotMember
from siyu.segments import service
from siyu.segments.schemas import SegmentIn, SegmentRule
from tests.segments.conftest import Scene


def rule(*conditions: dict[str, Any]) -> SegmentRule:
    return SegmentRule.model_validate({"op": "and", "conditions": list(conditions)})


def rows(scene: Scene, model: type[Any]) -> int:
    return int(scene.pool.session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def people(scene: Scene, make_user: Any) -> dict[str, Principal]:
    return {
        "admin": make_user(Role.ADMIN, "admin"),
        "ops": make_user(Role.OPERATOR, "ops"),
        "wang": make_user(Role.PROMOTER, "wang", promoter_id=scene.promoter_id),
    }


class TestSaving:
    def test_operator_saves_a_platform_segment(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        segment = service.create_segment(
            session,
            people["ops"],
            SegmentIn(
                name=" VIP 客户 ", rule=rule({"kind": "tag", "tag_ids": [scene.tags["vip"]]})
            ),
        )
        assert (segment.name, segment.owner_promoter_id, segment.all_owners) == (
            "VIP 客户",
            None,
            False,
        )
        assert service.count_segment(session, people["ops"], segment.id) == (2, 2)
        assert segment.last_count == 2
        assert rows(scene, AuditEvent) == 0  # platform's own contacts: nothing to audit

    def test_promoter_segment_is_theirs_whatever_they_send(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        segment = service.create_segment(
            session, people["wang"], SegmentIn(name="我的", owner_promoter_id=999)
        )
        assert segment.owner_promoter_id == scene.promoter_id
        assert service.count_segment(session, people["wang"], segment.id) == (1, 1)

    def test_promoter_cannot_save_with_platform_tags(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        with pytest.raises(service.SegmentReferenceNotFound):
            service.create_segment(
                scene.pool.session,
                people["wang"],
                SegmentIn(name="x", rule=rule({"kind": "tag", "tag_ids": [scene.tags["vip"]]})),
            )
        assert rows(scene, Segment) == 0

    def test_all_owners_is_for_admins_and_audited(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        with pytest.raises(service.AllOwnersAdminOnly):
            service.create_segment(session, people["ops"], SegmentIn(name="全部", all_owners=True))
        assert rows(scene, Segment) == 0
        segment = service.create_segment(
            session, people["admin"], SegmentIn(name="全部", all_owners=True)
        )
        assert service.count_segment(session, people["admin"], segment.id) == (6, 3)
        event = session.scalars(select(AuditEvent)).one()
        assert (event.action, event.object_id, event.detail) == (
            "segment.created",
            segment.id,
            {"all_owners": True, "owner_promoter_id": None},
        )


class TestVisibility:
    def test_promoter_never_sees_platform_segments(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        platform = service.create_segment(session, people["ops"], SegmentIn(name="平台"))
        own = service.create_segment(session, people["wang"], SegmentIn(name="我的"))
        assert [item.id for item in service.list_segments(session, people["wang"])] == [own.id]
        assert [item.id for item in service.list_segments(session, people["ops"])] == [platform.id]
        assert {item.id for item in service.list_segments(session, people["admin"])} == {
            platform.id,
            own.id,
        }
        with pytest.raises(service.SegmentNotFound):
            service.get_segment(session, people["wang"], platform.id)
        with pytest.raises(service.SegmentNotFound):
            service.get_segment(session, people["ops"], own.id)

    def test_merchant_has_no_segments(self, scene: Scene, make_user: Any) -> None:
        merchant = Principal(99, "shop", "商家", Role.MERCHANT, merchant_id=1)
        with pytest.raises(PermissionDenied):
            service.list_segments(scene.pool.session, merchant)

    def test_archived_segment_is_gone(self, scene: Scene, people: dict[str, Principal]) -> None:
        session = scene.pool.session
        segment = service.create_segment(session, people["ops"], SegmentIn(name="旧"))
        service.archive_segment(session, people["ops"], segment.id)
        with pytest.raises(service.SegmentNotFound):
            service.get_segment(session, people["ops"], segment.id)
        assert service.list_segments(session, people["ops"]) == []


class TestMaterialise:
    def test_snapshot_holds_the_reachable_members_and_stays(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        segment = service.create_segment(session, people["ops"], SegmentIn(name="全部"))
        snapshot = service.materialise(session, people["ops"], segment.id)
        # k3 opted out, k4 is pending, k5 removed: only k1 and k2 are reachable.
        assert snapshot.member_count == 2
        expected = sorted([scene.ids["k1"], scene.ids["k2"]])
        assert service.snapshot_members(session, snapshot.id) == expected
        contact = session.get(Contact, scene.ids["k1"])
        assert contact is not None
        contact.state = ContactState.REMOVED
        session.flush()
        assert service.snapshot_members(session, snapshot.id) == expected
        assert service.materialise(session, people["ops"], segment.id).member_count == 1

    def test_unknown_purpose_writes_nothing(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        segment = service.create_segment(session, people["ops"], SegmentIn(name="全部"))
        with pytest.raises(service.SnapshotPurposeInvalid):
            service.materialise(session, people["ops"], segment.id, purpose="spam")
        assert rows(scene, SegmentSnapshot) == 0
        assert rows(scene, SegmentSnapshotMember) == 0


class TestExport:
    def test_csv_has_masked_phones_and_is_logged(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        segment = service.create_segment(
            session,
            people["ops"],
            SegmentIn(name="VIP", rule=rule({"kind": "tag", "tag_ids": [scene.tags["vip"]]})),
        )
        text, count = service.export_csv(session, people["ops"], segment.id)
        assert count == 2
        lines = list(csv.reader(io.StringIO(text)))
        assert lines[0] == list(service.EXPORT_HEADER)
        first = dict(zip(lines[0], lines[1], strict=True))
        assert first["联系人ID"] == str(scene.ids["k1"])
        assert first["昵称"] == "小美"
        assert first["地区"] == "浙江省杭州市西湖区"
        assert first["城市等级"] == "新一线"
        assert first["生命周期"] == "已购买"
        assert first["标签"] == "VIP"
        phone = first["手机号"]
        assert len(phone) == 11
        assert phone[3:7] == "****"
        second = dict(zip(lines[0], lines[2], strict=True))
        assert second["城市等级"] == "六线"
        assert second["标签"] == "VIP、宝妈"
        exported = [int(lines[1][0]), int(lines[2][0])]
        consumers = set(
            session.scalars(select(Contact.consumer_id).where(Contact.id.in_(exported)))
        )
        log = session.scalars(select(PersonalDataAccess)).all()
        assert sorted((row.actor_user_id, row.subject_id, row.purpose) for row in log) == sorted(
            (people["ops"].user_id, consumer_id, f"segment.export:{segment.id}")
            for consumer_id in consumers
        )
        assert len(log) == 2

    def test_nobody_exports_a_segment_they_cannot_see(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        segment = service.create_segment(session, people["ops"], SegmentIn(name="平台"))
        with pytest.raises(service.SegmentNotFound):
            service.export_csv(session, people["wang"], segment.id)
        assert rows(scene, PersonalDataAccess) == 0

    def test_admin_export_of_a_promoters_segment_is_audited(
        self, scene: Scene, people: dict[str, Principal]
    ) -> None:
        session = scene.pool.session
        segment = service.create_segment(session, people["wang"], SegmentIn(name="我的"))
        _text, count = service.export_csv(session, people["admin"], segment.id)
        assert count == 1
        event = session.scalars(select(AuditEvent)).one()
        assert (event.action, event.detail) == ("segment.exported", {"rows": 1})
