"""JSON API /api/v1/campaigns: English errors with codes; the participant's own endpoints; the
device id of the /c/<code> scan page feeding the per-device invite cap."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from tests.campaigns.conftest import GANZHOU, World, png
from tests.conftest import ConsoleClient, count_rows

from siyu.auth.principal import Principal
from siyu.campaigns import service
from siyu.db import Database
from siyu.kit.time import utc_now
from siyu.models import Role
from siyu.models.campaigns import (
    Campaign,
    CampaignReferral,
    CampaignReward,
    CampaignTrigger,
    ReferralStatus,
)


def _world(database: Database, admin: Principal) -> World:
    with database.sessions() as session:
        world = World(session, admin).setup()
        session.commit()
    return world


def _body(entry_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "分享截图领拉杆箱",
        "trigger": "share_proof",
        "entry_code_id": entry_id,
        "rules_text": "活动规则见海报",
        "starts_at": (utc_now() - timedelta(hours=1)).isoformat(),
        "ends_at": (utc_now() + timedelta(days=3)).isoformat(),
        "tiers": [
            {
                "name": "拉杆箱",
                "threshold": 1,
                "total": 5,
                "districts": [{"district_code": GANZHOU, "total": 5}],
            }
        ],
    }
    body.update(overrides)
    return body


class TestStaffApi:
    def test_create_launch_end(self, api_as: Any, admin: Principal, database: Database) -> None:
        world = _world(database, admin)
        api = api_as(admin)
        created = api.post("/api/v1/campaigns", json=_body(world.entry_id))
        assert created.status_code == 201, created.text
        data = created.json()
        assert data["risk"] == "high"
        assert data["risk_rules"] == ["campaign_share_proof_trigger"]
        assert [row["district_code"] for row in data["inventory"]] == ["", GANZHOU]
        campaign_id = data["id"]
        risk = api.get(f"/api/v1/campaigns/{campaign_id}/risk").json()
        assert risk["acknowledgement_needed"] is True
        refused = api.post(f"/api/v1/campaigns/{campaign_id}/launch", json={})
        assert refused.status_code == 422
        assert refused.json()["error"] == "campaign_risk_acknowledgement_required"
        assert "high risk" in refused.json()["detail"]
        launched = api.post(
            f"/api/v1/campaigns/{campaign_id}/launch",
            json={"reason": "赞助商要求此玩法，已告知封号风险"},
        )
        assert launched.status_code == 200
        assert launched.json()["status"] == "running"
        ended = api.post(f"/api/v1/campaigns/{campaign_id}/end")
        assert ended.json()["campaign"]["status"] == "ended"
        assert ended.json()["invitations_queued"] is False

    def test_bad_input_is_422_with_code(
        self, api_as: Any, admin: Principal, database: Database
    ) -> None:
        world = _world(database, admin)
        api = api_as(admin)
        body = _body(world.entry_id)
        body["tiers"][0]["threshold"] = "3"  # a string, not an integer
        assert api.post("/api/v1/campaigns", json=body).status_code == 422
        body = _body(world.entry_id)
        body["tiers"][0]["districts"] = [{"district_code": "999999", "total": 1}]
        response = api.post("/api/v1/campaigns", json=body)
        assert response.status_code == 422
        assert response.json()["error"] == "campaign_terms_invalid"
        assert count_rows(database, Campaign) == 0

    def test_merchant_sees_only_sponsored(
        self, api_as: Any, admin: Principal, make_user: Any, database: Database
    ) -> None:
        world = _world(database, admin)
        api = api_as(admin)
        campaign_id = api.post("/api/v1/campaigns", json=_body(world.entry_id)).json()["id"]
        from siyu.catalog import service as catalog
        from siyu.catalog.schemas import MerchantCreate

        with database.sessions() as session:
            merchant = catalog.create_merchant(session, None, MerchantCreate(name="别家"))
            session.commit()
        other = make_user(Role.MERCHANT, "merchant1", merchant_id=merchant.id)
        response = api_as(other).get(f"/api/v1/campaigns/{campaign_id}")
        assert response.status_code == 404
        assert response.json()["error"] == "campaign_not_found"
        assert (
            api_as(other).post("/api/v1/campaigns", json=_body(world.entry_id)).status_code == 403
        )

    def test_claim_codes(self, api_as: Any, admin: Principal, database: Database) -> None:
        with database.sessions() as session:
            world = World(session, admin).setup()
            campaign = world.campaign()
            participant = world.participant(campaign)
            world.invite(participant)
            session.commit()
            participant_id = participant.id
        api = api_as(admin)
        low = api.post(f"/api/v1/campaigns/participants/{participant_id}/claim", json={})
        assert (low.status_code, low.json()["error"]) == (409, "campaign_reward_not_eligible")
        with database.sessions() as session:
            world.session = session
            world.invite(service.get_participant(session, None, participant_id))
            session.commit()
        ok = api.post(f"/api/v1/campaigns/participants/{participant_id}/claim", json={})
        assert ok.status_code == 200
        assert ok.json()["outcome"] == "issued"
        again = api.post(f"/api/v1/campaigns/participants/{participant_id}/claim", json={})
        assert again.json()["error"] == "campaign_reward_already_issued"
        out = api.post(
            f"/api/v1/campaigns/participants/{participant_id}/disqualify",
            json={"reason": "同一设备批量注册小号"},
        )
        assert out.json()["status"] == "disqualified"
        with database.sessions() as session:
            participant = service.get_participant(session, None, participant_id)
            campaign = service.get_campaign(session, None, participant.campaign_id)
            bonus = service.tiers_of(session, campaign)[1].id
        refused = api.post(
            f"/api/v1/campaigns/participants/{participant_id}/claim", json={"tier_id": bonus}
        )
        assert (refused.status_code, refused.json()["error"]) == (
            403,
            "campaign_participant_disqualified",
        )
        tree = api.get(f"/api/v1/campaigns/participants/{participant_id}/tree").json()
        assert [child["status"] for child in tree["children"]] == ["verified", "verified"]


class TestParticipantApi:
    def test_me_and_upload(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            world = World(session, admin).setup()
            campaign = world.campaign(
                trigger=CampaignTrigger.SHARE_PROOF,
                reason="赞助商要求此玩法，已告知封号风险",
            )
            participant = world.participant(campaign)
            session.commit()
            link = service.participant_link(participant)
        token = link.split("t=")[1]
        me = client.get(f"/api/v1/campaigns/{campaign.id}/me", params={"t": token})
        assert me.status_code == 200
        assert me.json()["progress_count"] == 0
        wrong = client.get(f"/api/v1/campaigns/{campaign.id}/me", params={"t": "1.abc"})
        assert wrong.json()["error"] == "campaign_link_invalid"
        bad = client.post(
            f"/api/v1/campaigns/{campaign.id}/me/proofs",
            params={"t": token},
            files={"file": ("a.txt", b"hello", "text/plain")},
        )
        assert (bad.status_code, bad.json()["error"]) == (422, "image_invalid")
        good = client.post(
            f"/api/v1/campaigns/{campaign.id}/me/proofs",
            params={"t": token},
            files={"file": ("a.png", png(), "image/png")},
        )
        assert good.status_code == 201
        assert good.json()["status"] == "pending"
        claim = client.post(
            f"/api/v1/campaigns/{campaign.id}/me/claim", params={"t": token}, json={}
        )
        assert claim.json()["error"] == "campaign_reward_not_eligible"
        assert count_rows(database, CampaignReward) == 0


class TestScanDevice:
    def test_one_device_many_invites(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        with database.sessions() as session:
            world = World(session, admin).setup()
            campaign = world.campaign(max_invites_per_device=2)
            participant = world.participant(campaign)
            code = service.personal_code_of(session, participant)
            assert code is not None
            session.commit()
        for number in range(3):
            page = client.get(f"/c/{code.code}")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            response = client.post(
                f"/c/{code.code}",
                data={"csrf_token": token.group(1), "phone": f"1360000{number:04d}"},
            )
            assert response.status_code == 200
        with database.sessions() as session:
            referrals = session.scalars(
                select(CampaignReferral).order_by(CampaignReferral.id)
            ).all()
            assert len({r.device_hash for r in referrals}) == 1
            assert all(r.device_hash and len(r.device_hash) == 64 for r in referrals)
            world.session = session
            from siyu.models import Contact

            for referral in referrals:
                world.confirm(session.get_one(Contact, referral.contact_id))
            session.commit()
            statuses = [
                (r.status, r.reason)
                for r in session.scalars(select(CampaignReferral).order_by(CampaignReferral.id))
            ]
        assert statuses == [
            (ReferralStatus.VERIFIED, ""),
            (ReferralStatus.VERIFIED, ""),
            (ReferralStatus.REJECTED, "device_cap"),
        ]
