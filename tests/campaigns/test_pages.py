"""Console and H5 pages: builder with the live risk panel, detail, launch with the high-risk
acknowledgement, referral tree, proof review, rewards/fulfilment; the participant's H5 page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.campaigns.conftest import GANZHOU, World, png, tiers
from tests.conftest import ConsoleClient, count_rows

from siyu.auth.principal import Principal
from siyu.campaigns import service
from siyu.db import Database
from siyu.models import AuditEvent, PersonalDataAccess
from siyu.models.campaigns import (
    Campaign,
    CampaignProof,
    CampaignReward,
    CampaignStatus,
    CampaignTrigger,
    ProofStatus,
    RewardFulfilment,
)


@pytest.fixture
def built(database: Database, admin: Principal) -> Iterator[Any]:
    """built(**campaign values) -> (campaign id, participant id, token) committed."""

    def factory(invites: int = 0, launch: bool = True, reason: str | None = None, **values: Any):
        with database.sessions() as session:
            world = World(session, admin).setup()
            campaign = world.campaign(launch=launch, reason=reason, **values)
            participant = world.participant(campaign) if launch else None
            for _ in range(invites):
                assert participant is not None
                world.invite(participant)
            session.commit()
            if participant is None:
                return campaign.id, None, None
            link = service.participant_link(participant)
            return campaign.id, participant.id, link.split("t=")[1]

    return factory


def _builder_form(entry_id: int, **overrides: str) -> dict[str, str]:
    form = {
        "name": "邀请好友领拉杆箱",
        "trigger": "friend_add",
        "entry_code_id": str(entry_id),
        "starts_at": "2026-01-01T09:00",
        "ends_at": "2030-12-31T23:00",
        "max_invites_per_device": "3",
        "styles": "1号款 黑色\n2号款 银色",
        "rules_text": "邀请好友添加福利官即有机会获得拉杆箱。",
        "tier1_name": "拉杆箱",
        "tier1_threshold": "3",
        "tier1_kind": "physical",
        "tier1_cost": "35.00",
        "tier1_total": "10",
        "tier1_districts": f"{GANZHOU} 6\n411602 4",
        "tier2_name": "收纳袋",
        "tier2_threshold": "6",
        "tier2_kind": "physical",
        "tier2_total": "3",
        "tier2_bonus": "1",
        "poster_title": "免费领取拉杆箱",
        "poster_background": "#c81d25",
        "qr_x": "700",
        "qr_y": "1420",
        "qr_size": "300",
    }
    form.update(overrides)
    return form


class TestBuilder:
    def test_create_through_form(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            world = World(session, admin).setup()
            session.commit()
            entry_id = world.entry_id
        client.login("admin")
        assert client.get("/console/campaigns/new").status_code == 200
        response = client.submit("/console/campaigns", _builder_form(entry_id))
        assert response.status_code == 303
        with database.sessions() as session:
            campaign = session.scalars(select(Campaign)).one()
            assert campaign.poster["qr"] == {"x": 700, "y": 1420, "size": 300}
            lines = [
                (line.tier.name, line.district_code, line.total)
                for line in service.inventory_of(session, campaign)
            ]
            assert lines == [
                ("拉杆箱", "", 10),
                ("拉杆箱", GANZHOU, 6),
                ("拉杆箱", "411602", 4),
                ("收纳袋", "", 3),
            ]
            tiers = service.tiers_of(session, campaign)
            assert [(t.unit_cost_fen, t.is_bonus) for t in tiers] == [(3500, False), (0, True)]
        page = client.get(response.headers["location"])
        assert "赣州市章贡区" in page.text or "章贡区" in page.text

    def test_bad_district_line_rerenders(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            world = World(session, admin).setup()
            session.commit()
        client.login("admin")
        response = client.submit(
            "/console/campaigns", _builder_form(world.entry_id, tier1_districts="章贡区五十")
        )
        assert response.status_code == 422
        assert "区县代码 名额" in response.text
        assert count_rows(database, Campaign) == 0

    def test_risk_panel_names_rule(self, client: ConsoleClient, admin: Principal) -> None:
        client.login("admin")
        response = client.submit(
            "/console/campaigns/check",
            {"trigger": "share_proof", "rules_text": "分享海报到 3 个群并截图即可领取"},
        )
        assert response.status_code == 200
        assert "高风险活动" in response.text
        assert "campaign_share_proof_trigger" in response.text

    def test_poster_preview_renders_the_form_and_decodes(
        self, client: ConsoleClient, admin: Principal
    ) -> None:
        import base64
        import io
        import re

        import zxingcpp
        from PIL import Image

        client.login("admin")
        assert 'id="poster-panel"' in client.get("/console/campaigns/new").text
        response = client.submit(
            "/console/campaigns/poster-preview",
            {
                "poster_title": "免费领取拉杆箱",
                "poster_background": "#c81d25",
                "qr_x": "390",
                "qr_y": "1560",
                "qr_size": "300",
            },
        )
        assert response.status_code == 200
        found = re.search(r"src=\"data:image/png;base64,([^\"]+)\"", response.text)
        assert found is not None
        image = Image.open(io.BytesIO(base64.b64decode(found.group(1))))
        assert image.size == (1080, 1920)
        assert image.getpixel((20, 20))[:3] == (0xC8, 0x1D, 0x25)
        [code] = zxingcpp.read_barcodes(image)
        assert code.text == "http://127.0.0.1:8000/c/SAMPLE00"

    def test_poster_preview_shows_layout_problems(
        self, client: ConsoleClient, admin: Principal
    ) -> None:
        client.login("admin")
        response = client.submit(
            "/console/campaigns/poster-preview", {"qr_x": "1000", "qr_y": "10", "qr_size": "300"}
        )
        assert response.status_code == 200
        assert 'data-testid="poster-error"' in response.text
        bad = client.submit("/console/campaigns/poster-preview", {"qr_x": "abc"})
        assert 'data-testid="poster-error"' in bad.text

    def test_promoter_refused(
        self, client: ConsoleClient, make_user: Any, make_promoter: Any
    ) -> None:
        made = make_promoter("甲", 1)
        client.login(made.principal.username)
        assert client.get("/console/campaigns/new").status_code == 403


class TestDetail:
    def test_launch_high_risk_needs_ack(
        self, client: ConsoleClient, built: Any, database: Database
    ) -> None:
        campaign_id, _p, _t = built(launch=False, trigger=CampaignTrigger.SHARE_PROOF)
        client.login("admin")
        page = client.get(f"/console/campaigns/{campaign_id}")
        assert 'name="acknowledgement"' in page.text
        client.submit(f"/console/campaigns/{campaign_id}/launch", {"acknowledgement": ""})
        with database.sessions() as session:
            assert session.get_one(Campaign, campaign_id).status == CampaignStatus.DRAFT
        client.submit(
            f"/console/campaigns/{campaign_id}/launch",
            {"acknowledgement": "赞助商要求此玩法，已告知封号风险"},
        )
        with database.sessions() as session:
            campaign = session.get_one(Campaign, campaign_id)
            assert campaign.status == CampaignStatus.RUNNING
            actions = session.scalars(select(AuditEvent.action)).all()
            assert "campaign.risk_acknowledged" in actions
        page = client.get(f"/console/campaigns/{campaign_id}")
        assert "赞助商要求此玩法" in page.text
        assert f'href="/console/analytics/campaigns/{campaign_id}"' in page.text

    def test_participants_and_tree_log_reads(
        self, client: ConsoleClient, built: Any, database: Database
    ) -> None:
        campaign_id, participant_id, _t = built(invites=2)
        client.login("admin")
        page = client.get(f"/console/campaigns/{campaign_id}")
        assert page.status_code == 200
        assert 'data-testid="participant-table"' in page.text
        tree = client.get(f"/console/campaigns/{campaign_id}/participants/{participant_id}/tree")
        assert tree.text.count('data-testid="tree-node"') == 3
        with database.sessions() as session:
            purposes = session.scalars(select(PersonalDataAccess.purpose)).all()
        assert "campaign.participants" in purposes
        assert "campaign.referral_tree" in purposes

    def test_end_from_console(self, client: ConsoleClient, built: Any, database: Database) -> None:
        campaign_id, _p, _t = built()
        client.login("admin")
        client.submit(f"/console/campaigns/{campaign_id}/end")
        with database.sessions() as session:
            assert session.get_one(Campaign, campaign_id).status == CampaignStatus.ENDED


class TestProofReview:
    def _uploaded(self, client: ConsoleClient, built: Any) -> tuple[int, int, str]:
        campaign_id, participant_id, token = built(
            trigger=CampaignTrigger.SHARE_PROOF,
            reason="赞助商要求此玩法，已告知封号风险",
            tiers=tiers(threshold=1),
        )
        response = client.submit(
            f"/h5/campaigns/{campaign_id}/proofs",
            {"t": token},
            files={"file": ("shot.png", png(), "image/png")},
        )
        assert response.status_code == 303
        return campaign_id, participant_id, token

    def test_approve_and_reject(
        self, client: ConsoleClient, built: Any, database: Database
    ) -> None:
        campaign_id, _participant_id, token = self._uploaded(client, built)
        client.submit(
            f"/h5/campaigns/{campaign_id}/proofs",
            {"t": token},
            files={"file": ("b.png", png(color=(1, 2, 3)), "image/png")},
        )
        client.login("admin")
        queue = client.get(f"/console/campaigns/{campaign_id}/proofs")
        assert queue.text.count('data-testid="proof-card"') == 2
        with database.sessions() as session:
            first, second = session.scalars(select(CampaignProof).order_by(CampaignProof.id)).all()
        image = client.get(f"/console/campaigns/proofs/{first.id}/image")
        assert image.headers["content-type"] == "image/png"
        assert image.content == png()
        client.submit(f"/console/campaigns/proofs/{first.id}/review", {"decision": "approve"})
        no_reason = client.submit(
            f"/console/campaigns/proofs/{second.id}/review", {"decision": "reject"}
        )
        assert no_reason.status_code == 303
        client.submit(
            f"/console/campaigns/proofs/{second.id}/review",
            {"decision": "reject", "reason": "截图不是本活动海报"},
        )
        with database.sessions() as session:
            rows = session.scalars(select(CampaignProof).order_by(CampaignProof.id)).all()
            assert [(p.status, p.reason) for p in rows] == [
                (ProofStatus.APPROVED, ""),
                (ProofStatus.REJECTED, "截图不是本活动海报"),
            ]
        page = client.get(f"/h5/campaigns/{campaign_id}?t={token}")
        assert "截图不是本活动海报" in page.text
        assert 'data-testid="claim-form"' in page.text


class TestH5:
    def test_bad_token(self, client: ConsoleClient, built: Any) -> None:
        campaign_id, _p, token = built()
        forged = token.split(".")[0] + ".0000"
        response = client.get(f"/h5/campaigns/{campaign_id}?t={forged}")
        assert response.status_code == 404
        assert "活动链接无效" in response.text
        other = client.get(f"/h5/campaigns/{campaign_id + 1}?t={token}")
        assert other.status_code == 404

    def test_progress_and_claim_once(
        self, client: ConsoleClient, built: Any, database: Database
    ) -> None:
        campaign_id, _participant_id, token = built(invites=2)
        page = client.get(f"/h5/campaigns/{campaign_id}?t={token}")
        assert re.search(r'display-6 fw-bold">2<', page.text)
        assert "再邀请 2 位新朋友" in page.text
        with database.sessions() as session:
            tier_id = service.tiers_of(session, session.get_one(Campaign, campaign_id))[0].id
        form = {
            "t": token,
            "tier_id": str(tier_id),
            "consignee_name": "张三",
            "consignee_phone": "13800001111",
            "address": "江西省赣州市章贡区红旗大道 1 号",
        }
        assert client.submit(f"/h5/campaigns/{campaign_id}/claim", form).status_code == 303
        again = client.submit(f"/h5/campaigns/{campaign_id}/claim", form)
        assert again.status_code == 409
        assert "您已领取过该奖励" in again.text
        assert count_rows(database, CampaignReward) == 1
        with database.sessions() as session:
            fulfilment = session.scalars(select(RewardFulfilment)).one()
            assert fulfilment.address == "江西省赣州市章贡区红旗大道 1 号"
            assert fulfilment.consignee_phone_encrypted
            assert "13800001111" not in fulfilment.consignee_phone_encrypted

    def test_claim_below_threshold(
        self, client: ConsoleClient, built: Any, database: Database
    ) -> None:
        campaign_id, _p, token = built(invites=1)
        response = client.submit(f"/h5/campaigns/{campaign_id}/claim", {"t": token})
        assert response.status_code == 409
        assert "还未达到领取条件" in response.text
        assert count_rows(database, CampaignReward) == 0

    def test_poster_download(
        self, client: ConsoleClient, built: Any, monkeypatch: pytest.MonkeyPatch, database: Database
    ) -> None:
        campaign_id, participant_id, token = built()
        seen: dict[str, Any] = {}

        def fake(template: dict[str, Any], *, nickname: str, qr_url: str) -> bytes:
            seen.update(template=template, nickname=nickname, qr_url=qr_url)
            return b"\x89PNG fake"

        monkeypatch.setattr("siyu.posters.service.render_poster", fake)
        response = client.get(f"/h5/campaigns/{campaign_id}/poster.png?t={token}")
        assert response.status_code == 200
        assert response.content == b"\x89PNG fake"
        assert "attachment" in response.headers["content-disposition"]
        with database.sessions() as session:
            participant = service.get_participant(session, None, participant_id)
            code = service.personal_code_of(session, participant)
            assert code is not None
        assert seen["qr_url"].endswith(f"/c/{code.code}")
        assert seen["nickname"] == "用户1"

    def test_poster_is_png(self, client: ConsoleClient, built: Any) -> None:
        campaign_id, _p, token = built()
        response = client.get(f"/h5/campaigns/{campaign_id}/poster.png?t={token}")
        assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


class TestUploads:
    def _share(self, built: Any) -> tuple[int, str]:
        campaign_id, _p, token = built(
            trigger=CampaignTrigger.SHARE_PROOF, reason="赞助商要求此玩法，已告知封号风险"
        )
        return campaign_id, token

    def test_not_an_image(self, client: ConsoleClient, built: Any, database: Database) -> None:
        campaign_id, token = self._share(built)
        response = client.submit(
            f"/h5/campaigns/{campaign_id}/proofs",
            {"t": token},
            files={"file": ("x.png", b"<?php echo 1; ?>", "image/png")},
        )
        assert response.status_code == 422
        assert "上传的文件不是有效图片" in response.text
        assert count_rows(database, CampaignProof) == 0

    def test_oversized(
        self, client: ConsoleClient, built: Any, database: Database, settings: Any
    ) -> None:
        campaign_id, token = self._share(built)
        settings.upload_max_bytes = 100
        response = client.submit(
            f"/h5/campaigns/{campaign_id}/proofs",
            {"t": token},
            files={"file": ("big.png", png((200, 200)), "image/png")},
        )
        assert response.status_code == 422
        assert "图片超过" in response.text
        assert count_rows(database, CampaignProof) == 0

    def test_duplicate(self, client: ConsoleClient, built: Any, database: Database) -> None:
        campaign_id, token = self._share(built)
        for expected in (303, 409):
            response = client.submit(
                f"/h5/campaigns/{campaign_id}/proofs",
                {"t": token},
                files={"file": ("a.png", png(), "image/png")},
            )
            assert response.status_code == expected
        assert count_rows(database, CampaignProof) == 1
        with database.sessions() as session:
            total = session.scalar(select(func.count()).select_from(CampaignProof))
        assert total == 1

    def test_friend_add_campaign_takes_no_proof(
        self, client: ConsoleClient, built: Any, database: Database
    ) -> None:
        campaign_id, _p, token = built()
        response = client.submit(
            f"/h5/campaigns/{campaign_id}/proofs",
            {"t": token},
            files={"file": ("a.png", png(), "image/png")},
        )
        assert response.status_code == 409
        assert count_rows(database, CampaignProof) == 0


class TestListEditRewards:
    def test_list_and_edit(self, client: ConsoleClient, built: Any, database: Database) -> None:
        campaign_id, _p, _t = built(launch=False)
        client.login("admin")
        listing = client.get("/console/campaigns")
        assert f'href="/console/campaigns/{campaign_id}"' in listing.text
        form_page = client.get(f"/console/campaigns/{campaign_id}/edit")
        assert 'value="拉杆箱"' in form_page.text
        assert f"{GANZHOU} 5" in form_page.text
        with database.sessions() as session:
            entry_id = session.get_one(Campaign, campaign_id).entry_code_id
        response = client.submit(
            f"/console/campaigns/{campaign_id}/edit",
            _builder_form(entry_id or 0, name="改名后的活动", tier1_total="12"),
        )
        assert response.status_code == 303
        with database.sessions() as session:
            campaign = session.get_one(Campaign, campaign_id)
            assert campaign.name == "改名后的活动"
            assert service.inventory_of(session, campaign)[0].total == 12

    def test_running_campaign_not_editable(
        self, client: ConsoleClient, built: Any, database: Database
    ) -> None:
        campaign_id, _p, _t = built()
        client.login("admin")
        with database.sessions() as session:
            entry_id = session.get_one(Campaign, campaign_id).entry_code_id
        response = client.submit(
            f"/console/campaigns/{campaign_id}/edit", _builder_form(entry_id or 0, name="新名字")
        )
        assert response.status_code == 409
        with database.sessions() as session:
            assert session.get_one(Campaign, campaign_id).name == "邀请好友领拉杆箱"

    def test_rewards_and_ship(self, client: ConsoleClient, built: Any, database: Database) -> None:
        campaign_id, participant_id, _t = built(invites=2)
        with database.sessions() as session:
            service.claim(
                session,
                participant_id,
                consignee=service.Consignee("张三", "13800001111", "江西省赣州市章贡区 1 号"),
            )
            session.commit()
            fulfilment = session.scalars(select(RewardFulfilment)).one()
        client.login("admin")
        page = client.get(f"/console/campaigns/{campaign_id}/rewards")
        assert "江西省赣州市章贡区 1 号" in page.text
        client.submit(
            f"/console/campaigns/fulfilments/{fulfilment.id}/ship",
            {"campaign_id": str(campaign_id), "carrier": "顺丰", "tracking_no": "SF123"},
        )
        page = client.get(f"/console/campaigns/{campaign_id}/rewards")
        assert "顺丰 SF123" in page.text
        with database.sessions() as session:
            purposes = session.scalars(select(PersonalDataAccess.purpose)).all()
        assert "campaign.rewards" in purposes


class TestPosterTemplate:
    def test_invalid_template_refused_with_its_problem(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            world = World(session, admin).setup()
            session.commit()
        client.login("admin")
        response = client.submit(
            "/console/campaigns", _builder_form(world.entry_id, qr_x="80", qr_y="1480")
        )
        assert response.status_code == 422
        assert "海报模板有误" in response.text
        assert count_rows(database, Campaign) == 0
