"""A fission campaign inside the market simulation: ``CampaignActor`` draws each day with the
campaign behaviour model (``siyu.market.campaign_model.step``, the same model the forecast runs)
and carries the draws out through siyu's public services and the simulator channel.

The model decides behaviour only; siyu's services enforce the real caps and stock. Per day:
people who delete the account send the simulator's friend-removed event (an invite inside the
invalidation window stops counting); poster viewers who scan scan the entry code, and people a
share reached scan the sharer's personal code (``pool.scan`` with ``world.people.identity``);
the pending adds are announced and the simulated events processed (as the jobs would after the
commit); people who reply answer the campaign's flow (their district, then a style number) and
join; share campaigns' screenshots are uploaded and reviewed by the world's admin; qualified
participants claim each tier they reached. First-purchase campaigns need orders, which this
actor does not place (their invites stay pending until an order actor buys).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session

from siyu.campaigns import service as campaigns
from siyu.campaigns.rules import ClaimOutcome
from siyu.channels.base import EventKind
from siyu.channels.simulator.backend import NAME as SIMULATOR
from siyu.channels.simulator.backend import reply
from siyu.errors import AppError
from siyu.market.campaign_model import (
    Behaviour,
    CampaignDraft,
    CampaignState,
    DayDraws,
    new_state,
    step,
)
from siyu.market.simulation import World
from siyu.models import Contact, ContactState
from siyu.models.campaigns import Campaign, CampaignParticipant, CampaignTrigger
from siyu.pool import events
from siyu.pool import service as pool
from siyu.pool.repository import EventRepository
from siyu.pool.schemas import EventIn


def _process_events(session: Session) -> None:
    repository = EventRepository(session)
    while True:
        ids = repository.unprocessed_ids(500)
        if not ids:
            return
        for event_id in ids:
            events.process(session, event_id)


def _png(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new(
        "RGB", (60, 100), (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _region_name(code: str) -> str:
    from siyu.regions import service as regions

    try:
        return regions.full_name(code) or code
    except AppError:
        return code


@dataclass
class CampaignActor:
    """One campaign of the simulation. ``reach``: people who see the poster each day (or in
    all, with ``reach_is_total``); ``places``: where it is shown (None = the campaign's stocked
    districts, () = everywhere)."""

    campaign_id: int
    reach: int = 200
    reach_is_total: bool = False
    places: tuple[str, ...] | None = None
    behaviour: Behaviour = field(default_factory=Behaviour)
    name: str = "campaign"
    draft: CampaignDraft | None = None
    state: CampaignState | None = None
    # Market person → the contact this campaign made, their participant id and personal code
    # text (real rows only; other actors' contacts of the same person are left alone).
    contact_of: dict[int, int] = field(default_factory=dict)
    participant_of: dict[int, int] = field(default_factory=dict)
    code_of: dict[int, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def begin(self, session: Session, world: World) -> None:
        from dataclasses import replace

        from siyu.forecasts.service import draft_from_campaign

        campaign = self._campaign(session)
        draft = draft_from_campaign(
            session, campaign, self.reach, days=world.days, reach_is_total=self.reach_is_total
        )
        draft = replace(draft, behaviour=self.behaviour)
        if self.places is not None:
            draft = replace(draft, places=self.places)
        self.draft = draft
        self.state = new_state(world.market, draft)

    def _campaign(self, session: Session) -> Campaign:
        campaign = session.get(Campaign, self.campaign_id)
        if campaign is None:
            raise campaigns.CampaignNotFound()
        return campaign

    def _count(self, world: World, key: str, value: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + value
        world.stats[f"campaign.{key}"] += value

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        assert self.draft is not None, "begin() runs first"
        assert self.state is not None
        campaign = self._campaign(session)
        draws = step(world.market, self.draft, self.state, day, rng)
        routing = random.Random(int(rng.integers(0, 2**31)))
        self._remove(session, world, draws, day)
        entry = (
            pool.get_code(session, None, campaign.entry_code_id) if campaign.entry_code_id else None
        )
        if entry is None:
            return
        scanned: list[tuple[int, int]] = []  # (person, pending contact id)
        for person in draws.poster_scans.tolist():
            contact_id = self._scan(session, world, entry.code, person, routing)
            if contact_id is not None:
                scanned.append((person, contact_id))
        for person, inviter in zip(
            draws.invite_scans.tolist(), draws.invite_scan_inviters.tolist(), strict=True
        ):
            code = self.code_of.get(inviter)
            contact_id = (
                self._scan(session, world, code, person, routing) if code is not None else None
            )
            if contact_id is not None:
                scanned.append((person, contact_id))
        self._settle(session)
        for person, contact_id in scanned:
            contact = session.get(Contact, contact_id)
            if contact is not None and contact.state == ContactState.CONFIRMED:
                world.people.note_contact(person, contact.consumer_id, contact.id)
                self.contact_of[person] = contact.id
                self._count(world, "adds")
        self._join(session, world, campaign, draws, day)
        self._proofs(session, world, campaign, draws, day)
        self._claim(session, world, campaign, draws)
        _process_events(session)

    def _scan(
        self, session: Session, world: World, code: str, person: int, routing: random.Random
    ) -> int | None:
        """The person scans; the pending contact's id when they were routed to an account."""
        result = pool.scan(session, code, world.people.identity(person), None, routing)
        self._count(world, "scans")
        if result.scan.consumer_id is not None:
            world.people.note_consumer(person, result.scan.consumer_id)
        if result.contact_id is None:
            self._count(world, "full")
        return result.contact_id

    def _settle(self, session: Session) -> None:
        """What the jobs do after the commit: announce pending adds, process the events."""
        from sqlalchemy import select

        pending = session.scalars(
            select(Contact.id).where(Contact.state == ContactState.PENDING).order_by(Contact.id)
        ).all()
        for contact_id in pending:
            pool.announce_pending(session, contact_id)
        _process_events(session)

    def _remove(self, session: Session, world: World, draws: DayDraws, day: int) -> None:
        for person in draws.removed.tolist():
            contact_id = self.contact_of.get(person)
            contact = session.get(Contact, contact_id) if contact_id is not None else None
            if contact is None or contact.state != ContactState.CONFIRMED:
                continue
            events.receive(
                session,
                EventIn(
                    backend=SIMULATOR,
                    external_event_id=f"remove:{contact.id}:campaign-{self.campaign_id}-{day}",
                    kind=EventKind.FRIEND_REMOVED.value,
                    account_id=contact.account_id,
                    payload={"contact_id": contact.id, "reason": "simulated_delete"},
                ),
            )
            if world.people.contact_id.get(person) == contact.id:
                world.people.forget_contact(person)
            self.contact_of.pop(person, None)
            self._count(world, "removed")
        _process_events(session)

    def _join(
        self, session: Session, world: World, campaign: Campaign, draws: DayDraws, day: int
    ) -> None:
        districts = set(campaigns.campaign_districts(session, campaign))
        styles = campaign.styles or []
        for person in draws.joined.tolist():
            contact_id = self.contact_of.get(person)
            contact = session.get(Contact, contact_id) if contact_id is not None else None
            if contact is None or contact.state != ContactState.CONFIRMED:
                continue
            place = world.market.region_code(person)
            district = place if place in districts else ""
            key = f"campaign-{self.campaign_id}-{person}-{day}"
            if campaign.flow_id is not None:
                reply(session, contact, _region_name(district or place), f"{key}-district")
                _process_events(session)
                if styles:
                    reply(session, contact, str(1 + person % len(styles)), f"{key}-style")
                    _process_events(session)
            try:
                participant, _created = campaigns.join(
                    session,
                    campaign.id,
                    contact.consumer_id,
                    contact_id=contact.id,
                    district_code=district,
                )
            except AppError:
                continue
            if participant.replied_at is None:
                # They answered the greeting (the funnel counts replies ≥ joins), as in the demo.
                from siyu.kit.time import utc_now

                participant.replied_at = utc_now()
            if person not in self.participant_of:
                self._count(world, "participants")
            self._note(session, person, participant)

    def _note(self, session: Session, person: int, participant: CampaignParticipant) -> None:
        self.participant_of[person] = participant.id
        code = campaigns.personal_code_of(session, participant)
        if code is not None:
            self.code_of[person] = code.code

    def _proofs(
        self, session: Session, world: World, campaign: Campaign, draws: DayDraws, day: int
    ) -> None:
        if campaign.trigger != CampaignTrigger.SHARE_PROOF:
            return
        for person, approved in zip(
            draws.proofs.tolist(), draws.proofs_approved.tolist(), strict=True
        ):
            participant_id = self.participant_of.get(person)
            participant = (
                session.get(CampaignParticipant, participant_id) if participant_id else None
            )
            if participant is None:
                continue
            try:
                proof = campaigns.submit_proof(
                    session,
                    campaign,
                    participant,
                    _png(((world.seed * 1_000 + self.campaign_id) * 1_000_003 + person) * 61 + day),
                )
                campaigns.review_proof(
                    session, world.admin, proof.id, approved, "" if approved else "截图不清晰"
                )
            except AppError:
                continue
            self._count(world, "proofs")

    def _claim(self, session: Session, world: World, campaign: Campaign, draws: DayDraws) -> None:
        tiers = list(campaigns.tiers_of(session, campaign))
        assert self.draft is not None
        # Model tier index → the real tier (the draft lists them in the campaign's order).
        for person, tier_index in zip(
            draws.reward_people.tolist(), draws.reward_tiers.tolist(), strict=True
        ):
            participant_id = self.participant_of.get(person)
            if participant_id is None or tier_index >= len(tiers):
                continue
            result = campaigns.claim(session, participant_id, tier_id=tiers[tier_index].id)
            if result.outcome == ClaimOutcome.ISSUED:
                self._count(world, "rewards")


__all__ = ["CampaignActor"]
