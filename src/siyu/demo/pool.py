"""The demo's traffic pool: a fleet, channel codes routing scans across it, groups rolling over.

- 12 platform activity accounts sharing one persona (京东活动推广员) in four cities, plus a
  福利官 account that is the spare of the fission code and owns the coupon groups; all on the
  simulator backend (a synthetic WeChat: seeded accepts, welcome messages, replies).
- Promoters' own accounts (team leaders) and couriers' accounts, on the assisted backend: what
  the channel needs from them lands in the operator inbox as tasks with copy-ready scripts.
- The seed's fission code (免费领取拉杆箱) scanned by ~160 people, some through participants'
  personal codes (state parameter), a regional code, and a coupon group code whose groups fill
  and roll over.

Runs through the public services inside the caller's unit of work; what jobs would do after
commit (announce the pending adds, process the channel events) is run inline so the console
shows the result straight away. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.channels.simulator.backend import reply
from siyu.consumers.service import ConsumerIdentity
from siyu.kit import crypto
from siyu.models import (
    AccountKind,
    AccountStatus,
    AssistedTask,
    AssistedTaskStatus,
    Consumer,
    Contact,
    ContactState,
    GroupPurpose,
    Promoter,
    PromoterKind,
    RoutingStrategy,
    ScanOutcome,
)
from siyu.pool import events, groups, inbox, service
from siyu.pool.repository import EventRepository
from siyu.pool.schemas import AccountCreate, CodeCreate, GroupCodeCreate, PersonaCreate

# (city label, province, city, district) — current national division codes.
CITIES = [
    ("赣州", "360000", "360700", "360702"),
    ("周口", "410000", "411600", "411602"),
    ("临沂", "370000", "371300", "371302"),
    ("北京朝阳", "110000", "110100", "110105"),
]
WELCOME = "您好！欢迎参加“免费领取拉杆箱”活动～请问您在哪个区？我帮您查一下当地还剩多少名额。"
DISTRICT_REPLIES = ["章贡区", "川汇区", "兰山区", "朝阳区", "还有名额吗？", "1号款"]
GROUP_WELCOME = "欢迎加入双十一内购优惠券群！福利官每天 20:00 发券，请勿发广告。"


@dataclass
class PoolSummary:
    accounts: int = 0
    scans: int = 0
    confirmed: int = 0
    full: int = 0
    groups: int = 0
    group_members: int = 0
    open_tasks: int = 0


def load_pool(session: Session, admin: Principal, seed: int) -> PoolSummary:
    rng = random.Random(seed + 4)
    summary = PoolSummary()
    promoter_persona = service.create_persona(
        session,
        admin,
        PersonaCreate(
            name="活动推广员",
            nickname="京东活动推广员",
            avatar_url="",
            signature="每天分享好物和福利，有问题随时找我",
        ),
    )
    welfare_persona = service.create_persona(
        session,
        admin,
        PersonaCreate(name="福利官", nickname="JD福利官", signature="每晚 8 点准时发券"),
    )

    activity_ids: list[int] = []
    for index in range(12):
        _label, province, city, district = CITIES[index % len(CITIES)]
        account = service.create_account(
            session,
            admin,
            AccountCreate(
                name=f"京东活动推广员-{index + 1:03d}",
                kind=AccountKind.PERSONAL_ASSISTED,
                persona_id=promoter_persona.id,
                external_id=f"jd_tuiguang_{index + 1:03d}",
                channel_backend="simulator",
                province_code=province,
                city_code=city,
                district_code=district,
                product_lines=["箱包", "日用百货"] if index % 2 == 0 else ["美妆", "日用百货"],
                passive_adds_per_day=200,
            ),
        )
        activity_ids.append(account.id)
    # Friends the accounts held before siyu (so the capacity bars are not all empty); one account
    # nearly full, one resting after a restriction warning.
    for account_id, held in zip(activity_ids, [9_950, 6_200, 3_100, 800], strict=False):
        service.get_account(session, admin, account_id).friends_used = held
    service.change_status(
        session, admin, activity_ids[5], AccountStatus.RESTING, "收到频繁加好友提醒，休息 3 天"
    )
    welfare = service.create_account(
        session,
        admin,
        AccountCreate(
            name="京东福利官",
            kind=AccountKind.PERSONAL_ASSISTED,
            persona_id=welfare_persona.id,
            external_id="jd_fuliguan",
            channel_backend="simulator",
        ),
    )

    leaders = session.scalars(
        select(Promoter).where(Promoter.inviter_id.is_(None)).order_by(Promoter.id)
    ).all()
    couriers = session.scalars(
        select(Promoter).where(Promoter.kind == PromoterKind.COURIER).order_by(Promoter.id)
    ).all()
    own_ids: list[int] = []
    for leader in leaders[1:]:
        own_ids.append(
            service.create_account(
                session,
                admin,
                AccountCreate(
                    name=f"{leader.name}的微信",
                    kind=AccountKind.PERSONAL_ASSISTED,
                    owner_promoter_id=leader.id,
                    channel_backend="assisted",
                    passive_adds_per_day=100,
                ),
            ).id
        )
    for courier in couriers:
        service.create_account(
            session,
            admin,
            AccountCreate(
                name=f"快递小哥{courier.name}",
                kind=AccountKind.COURIER,
                owner_promoter_id=courier.id,
                channel_backend="assisted",
                active_adds_per_day=30,
            ),
        )
    summary.accounts = 12 + 1 + len(own_ids) + len(couriers)

    fission = service.create_code(
        session,
        admin,
        CodeCreate(
            name="免费领取拉杆箱",
            rule={"persona_ids": [promoter_persona.id]},
            strategy=RoutingStrategy.LEAST_LOADED,
            spare_account_ids=[welfare.id],
            welcome_script=WELCOME,
            tag_names=["拉杆箱活动", "双十一"],
            source_label="拉杆箱海报",
        ),
    )
    regional = service.create_code(
        session,
        admin,
        CodeCreate(
            name="赣州本地福利",
            rule={"city_codes": ["360700"]},
            strategy=RoutingStrategy.ROUND_ROBIN,
            welcome_script="您好，这里是赣州本地福利号，每天推荐本地好价。",
            tag_names=["赣州"],
            source_label="赣州门店海报",
        ),
    )
    leader_code = None
    if leaders[1:] and own_ids:
        leader_code = service.create_code(
            session,
            admin,
            CodeCreate(
                name=f"{leaders[1].name}的好友码",
                owner_promoter_id=leaders[1].id,
                rule={"account_ids": [own_ids[0]], "owner_promoter_id": leaders[1].id},
                welcome_script="你好呀，我是团长，拉你进福利群～",
                source_label="团长朋友圈",
            ),
        )

    serial = [0]

    def person() -> ConsumerIdentity:
        serial[0] += 1
        return ConsumerIdentity(
            phone=f"1390000{serial[0]:04d}", nickname=f"微信用户{serial[0]:04d}"
        )

    def scan(code_text: str, state: str | None = None) -> None:
        result = service.scan(session, code_text, person(), state, rng)
        summary.scans += 1
        if result.outcome == ScanOutcome.FULL:
            summary.full += 1

    for _ in range(120):
        scan(fission.code)
    # Fission: three early participants get personal codes; their friends scan them.
    early = session.scalars(
        select(Contact).where(Contact.source_id == fission.id).order_by(Contact.id).limit(3)
    ).all()
    for participant in early:
        personal = service.create_personal_code(
            session, admin, fission.id, referrer_consumer_id=participant.consumer_id
        )
        for _ in range(rng.randint(4, 9)):
            scan(fission.code, personal.state)
    scan(fission.code, "bad state!")  # malformed: routed unattributed, logged
    for _ in range(15):
        scan(regional.code)
    if leader_code is not None:
        for _ in range(6):
            scan(leader_code.code)

    # What the jobs would do after commit: tell each channel about its pending adds, then
    # process the events the simulated people produce.
    pending = session.scalars(
        select(Contact.id).where(Contact.state == ContactState.PENDING).order_by(Contact.id)
    ).all()
    for contact_id in pending:
        service.announce_pending(session, contact_id)
    _process_events(session)
    confirmed = session.scalars(
        select(Contact)
        .where(Contact.state == ContactState.CONFIRMED, Contact.source_id == fission.id)
        .order_by(Contact.id)
    ).all()
    for index, contact in enumerate(confirmed[:60]):
        reply(session, contact, rng.choice(DISTRICT_REPLIES), f"demo-{index}")
    _process_events(session)

    # Assisted accounts: the leader ticks off two of the inbox tasks; the rest stay open.
    tasks = session.scalars(
        select(AssistedTask)
        .where(AssistedTask.status == AssistedTaskStatus.OPEN)
        .order_by(AssistedTask.id)
        .limit(2)
    ).all()
    for task in tasks:
        inbox.complete_task(
            session, None, task.id, AssistedTaskStatus.DONE, reply_text="好的，谢谢团长"
        )
    _process_events(session)

    # Coupon groups run by 福利官: demo-sized groups (40) so the roll-over shows.
    group_code = groups.create_group_code(
        session,
        admin,
        GroupCodeCreate(
            account_id=welfare.id,
            name="双十一内购优惠券群",
            name_template="双十一内购优惠券群{n}",
            capacity=40,
            purpose=GroupPurpose.COUPON,
            welcome_script=GROUP_WELCOME,
            tag_names=["券群"],
        ),
    )
    everyone = session.scalars(
        select(Contact).where(Contact.state == ContactState.CONFIRMED).order_by(Contact.id)
    ).all()
    for contact in everyone[:100]:
        result = groups.join_by_code(
            session, group_code.code, ConsumerIdentity(phone=_phone_of(session, contact))
        )
        if result.outcome == "joined":
            summary.group_members += 1
    summary.groups = len(groups.groups_of_code(session, admin, group_code.id))
    summary.confirmed = len(
        session.scalars(select(Contact.id).where(Contact.state == ContactState.CONFIRMED)).all()
    )
    summary.open_tasks = len(
        session.scalars(
            select(AssistedTask.id).where(AssistedTask.status == AssistedTaskStatus.OPEN)
        ).all()
    )
    return summary


def _phone_of(session: Session, contact: Contact) -> str:
    consumer = session.get_one(Consumer, contact.consumer_id)
    assert consumer.phone_encrypted is not None
    return crypto.decrypt(consumer.phone_encrypted)


def _process_events(session: Session) -> None:
    repository = EventRepository(session)
    while True:
        ids = repository.unprocessed_ids(500)
        if not ids:
            return
        for event_id in ids:
            events.process(session, event_id)
