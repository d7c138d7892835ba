"""Promoters (K): sign-up through invite codes, binding to an inviter, teams, grades, freezing.

Never commits. ``actor`` None means the system (CLI, demo loader, jobs) acting as the
installation's owner; audit rows then carry no user.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth import service as auth_service
from siyu.auth.principal import Principal
from siyu.auth.schemas import UserCreate
from siyu.config import current_settings
from siyu.errors import AppError, Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.jobs import enqueue
from siyu.kit.crypto import PhoneInvalid, blind_index, decrypt, encrypt, mask_phone, normalize_phone
from siyu.kit.ids import readable_code
from siyu.kit.money import check_fen
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.models import (
    BindingMode,
    Promoter,
    PromoterBinding,
    PromoterGrade,
    PromoterKind,
    PromoterStatus,
    Role,
    User,
)
from siyu.promoters import rules
from siyu.promoters.repository import (
    BindingRepository,
    GradeRepository,
    PromoterFilter,
    PromoterRepository,
)
from siyu.promoters.schemas import GradeUpdate, PromoterCreate, SignupIn


class PromoterNotFound(NotFound):
    code = "promoter_not_found"
    message_en = "Promoter not found."
    message_zh = "找不到该推手，可能链接有误，或您没有查看权限。"


class NotAPromoter(PermissionDenied):
    code = "not_a_promoter"
    message_en = "Only promoter accounts can do this."
    message_zh = (
        "此功能仅供推手使用。请退出后用推手账号（注册时的手机号）登录，或通过邀请链接注册成为推手。"
    )


class InviteCodeNotFound(NotFound):
    code = "invite_code_not_found"
    message_en = "Invite code {invite_code!r} does not exist."
    message_zh = (
        "邀请码“{invite_code}”不存在。请向邀请您的推手核对邀请码（8 位字母和数字），"
        "或不填邀请码直接注册。"
    )


class InviterFrozen(Conflict):
    code = "inviter_frozen"
    message_en = "The inviter's account is frozen and cannot recruit."
    message_zh = (
        "邀请人的账号已被冻结，暂时不能邀请新推手。请向其他推手索取邀请码，或不填邀请码直接注册。"
    )


class PhoneAlreadyRegistered(Conflict):
    code = "phone_already_registered"
    message_en = "This phone number is already registered as a promoter."
    message_zh = "该手机号已注册为推手，请直接用手机号登录；忘记密码请联系平台客服。"


class PromoterNameInvalid(ValidationFailed):
    code = "promoter_name_invalid"
    message_en = "Name must be 1 to 50 characters."
    message_zh = "请填写姓名（1–50 个字）。"


class ReasonRequired(ValidationFailed):
    code = "reason_required"
    message_en = "A reason (1 to 500 characters) is required."
    message_zh = "请填写原因（1–500 个字），便于日后核查。"


class SelfBindingRefused(ValidationFailed):
    code = "self_binding_refused"
    message_en = "A promoter cannot be its own inviter."
    message_zh = "不能绑定自己为邀请人。请填写邀请您的推手的邀请码。"


class BindingCycleRefused(Conflict):
    code = "binding_cycle_refused"
    message_en = "That promoter is in your own team; binding would create a cycle."
    message_zh = (
        "不能绑定该邀请人：对方是由您直接或间接邀请的，绑定后会形成循环。请填写其他推手的邀请码。"
    )


class AlreadyBoundToInviter(Conflict):
    code = "already_bound_to_inviter"
    message_en = "You are already bound to this inviter."
    message_zh = "您已绑定该邀请人，无需重复绑定。"


class InviterAlreadyBound(Conflict):
    code = "inviter_already_bound"
    message_en = "You already have an inviter; the first binding stays (first-bind-wins)."
    message_zh = "您已有邀请人，按平台规则（先绑定者优先）不能更换。如确需调整，请联系平台客服。"


class BindingNewPromotersOnly(Conflict):
    code = "binding_new_promoters_only"
    message_en = "Only new promoters can bind an inviter (new-users-only), and only at sign-up."
    message_zh = (
        "按平台规则，只有新推手在注册时可以绑定邀请人，已注册的推手不能再绑定。"
        "如有疑问请联系平台客服。"
    )


class BindingBusy(Conflict):
    code = "binding_busy"
    message_en = "The inviter's team is changing right now; try again in a moment."
    message_zh = "邀请人的团队正在变动，请稍后再试。"


class PromoterAlreadyFrozen(Conflict):
    code = "promoter_already_frozen"
    message_en = "The promoter is already frozen."
    message_zh = "该推手已处于冻结状态，无需重复冻结。"


class PromoterNotFrozen(Conflict):
    code = "promoter_not_frozen"
    message_en = "The promoter is not frozen."
    message_zh = "该推手未被冻结，无需解冻。"


class GradeNotFound(NotFound):
    code = "grade_not_found"
    message_en = "Promoter grade not found."
    message_zh = "找不到该推手等级，请刷新页面后重试。"


class InviteCodeExhausted(Conflict):
    code = "invite_code_exhausted"
    message_en = "Could not allocate a unique invite code; try again."
    message_zh = "生成邀请码失败，请稍后重试。"


_REFUSAL_ERRORS: dict[rules.BindingRefusal, type[AppError]] = {
    rules.BindingRefusal.SELF_BINDING: SelfBindingRefused,
    rules.BindingRefusal.ALREADY_BOUND_TO_INVITER: AlreadyBoundToInviter,
    rules.BindingRefusal.INVITER_FROZEN: InviterFrozen,
    rules.BindingRefusal.ALREADY_BOUND: InviterAlreadyBound,
    rules.BindingRefusal.NOT_NEW: BindingNewPromotersOnly,
    rules.BindingRefusal.CYCLE: BindingCycleRefused,
}

# (code, name, level, min_direct_recruits, min_team_size, min_gmv_fen). GMV thresholds are 0
# until orders exist: a GMV condition nobody can meet would make the grades unreachable.
DEFAULT_GRADES: tuple[tuple[str, str, int, int, int, int], ...] = (
    ("normal", "普通", 0, 0, 0, 0),
    ("silver", "银牌", 1, 5, 10, 0),
    ("gold", "金牌", 2, 20, 50, 0),
)

# The team view lists at most this many L2 recruits under each L1 (the count is always exact).
MAX_SECOND_LEVEL_SHOWN = 100
INVITE_CODE_LENGTH = 8
INVITE_CODE_ATTEMPTS = 10
MAX_CHAIN_LOCK_ATTEMPTS = 5


@dataclass(frozen=True)
class SignupResult:
    promoter: Promoter
    user: User


@dataclass(frozen=True)
class TeamCounts:
    direct_recruits: int
    second_level: int

    @property
    def team_size(self) -> int:
        return self.direct_recruits + self.second_level


@dataclass(frozen=True)
class TeamMember:
    promoter: Promoter
    recruit_count: int
    recruits: list[Promoter]
    """At most MAX_SECOND_LEVEL_SHOWN L2 promoters; never deeper."""


@dataclass(frozen=True)
class Team:
    owner: Promoter
    counts: TeamCounts
    members: Page[TeamMember]


@dataclass(frozen=True)
class BindingRecord:
    binding: PromoterBinding
    inviter_name: str | None
    previous_inviter_name: str | None


# ---- helpers ---------------------------------------------------------------------------------


def phone_of(promoter: Promoter) -> str:
    return decrypt(promoter.phone_encrypted)


def masked_phone(promoter: Promoter) -> str:
    return mask_phone(phone_of(promoter))


def invite_link(promoter: Promoter) -> str:
    return f"{current_settings().base_url.rstrip('/')}/join/{promoter.invite_code}"


def normalize_invite_code(raw: str | None) -> str | None:
    code = (raw or "").strip().upper()
    return code or None


def current_binding_mode() -> BindingMode:
    return BindingMode(current_settings().binding_mode)


def _check_name(raw: str) -> str:
    name = raw.strip()
    if not 1 <= len(name) <= 50:
        raise PromoterNameInvalid()
    return name


def _check_password(password: str) -> str:
    if not 8 <= len(password) <= 128:
        raise auth_service.PasswordInvalid()
    return password


def _check_reason(raw: str) -> str:
    reason = raw.strip()
    if not 1 <= len(reason) <= 500:
        raise ReasonRequired()
    return reason


def _actor_user_id(actor: Principal | None) -> int | None:
    return actor.user_id if actor is not None else None


def _can_see(actor: Principal, promoter_id: int) -> bool:
    return actor.is_platform or (actor.role == Role.PROMOTER and actor.promoter_id == promoter_id)


def _new_invite_code(promoters: PromoterRepository) -> str:
    for _ in range(INVITE_CODE_ATTEMPTS):
        code = readable_code(INVITE_CODE_LENGTH)
        if not promoters.invite_code_taken(code):
            return code
    raise InviteCodeExhausted()


def _queue_grade_evaluation(session: Session, promoter_ids: list[int | None]) -> None:
    # Imported here: tasks imports this module, and jobs are the caller side of the service.
    from siyu.promoters import tasks

    for promoter_id in dict.fromkeys(promoter_ids):
        if promoter_id is not None:
            enqueue(session, tasks.evaluate_grade, promoter_id)


# ---- grades ----------------------------------------------------------------------------------


def ensure_default_grades(session: Session) -> PromoterGrade:
    """Seed 普通/银牌/金牌 when no grade exists; return the entry grade (lowest level)."""
    grades = GradeRepository(session)
    entry = grades.entry()
    if entry is not None:
        return entry
    try:
        with session.begin_nested():
            grades.add_all(
                [
                    PromoterGrade(
                        code=code,
                        name=name,
                        level=level,
                        min_direct_recruits=direct,
                        min_team_size=team,
                        min_gmv_fen=gmv,
                    )
                    for code, name, level, direct, team, gmv in DEFAULT_GRADES
                ]
            )
    except IntegrityError:
        pass  # a concurrent transaction seeded them first; read theirs
    entry = grades.entry()
    if entry is None:  # pragma: no cover - only if the concurrent seed rolled back
        raise GradeNotFound()
    return entry


def list_grades(session: Session, actor: Principal | None) -> list[PromoterGrade]:
    """Every signed-in user may read the grade ladder (promoters see what the next grade needs).

    Seeds the defaults on a fresh installation so the console always has grades to edit.
    """
    ensure_default_grades(session)
    return GradeRepository(session).all()


def update_grade(
    session: Session, actor: Principal | None, grade_id: int, data: GradeUpdate
) -> PromoterGrade:
    if actor is not None:
        actor.require_admin()
    grade = GradeRepository(session).get(grade_id)
    if grade is None:
        raise GradeNotFound()
    changes: dict[str, list[object]] = {}
    if data.name is not None and data.name.strip() and data.name.strip() != grade.name:
        changes["name"] = [grade.name, data.name.strip()]
        grade.name = data.name.strip()
    for field in ("min_direct_recruits", "min_team_size", "min_gmv_fen"):
        value = getattr(data, field)
        if value is None:
            continue
        if field == "min_gmv_fen":
            value = check_fen(value, "min_gmv_fen", "GMV 门槛")
        if value != getattr(grade, field):
            changes[field] = [getattr(grade, field), value]
            setattr(grade, field, value)
    if changes:
        audit.record(
            session,
            _actor_user_id(actor),
            "promoter_grade.updated",
            "promoter_grade",
            grade.id,
            changes=changes,
        )
    return grade


# ---- sign-up and creation --------------------------------------------------------------------


def find_inviter(session: Session, invite_code: str) -> Promoter:
    """The promoter behind an invite code, if it may recruit now."""
    code = normalize_invite_code(invite_code) or ""
    inviter = PromoterRepository(session).get_by_invite_code(code)
    if inviter is None:
        raise InviteCodeNotFound(invite_code=invite_code.strip())
    if inviter.status != PromoterStatus.ACTIVE:
        raise InviterFrozen()
    return inviter


def sign_up(session: Session, data: SignupIn) -> SignupResult:
    """A person signs up on the public join page or API, optionally through an invite code.

    The new promoter's own login acts in the audit trail.
    """
    return _create(
        session,
        actor=None,
        name=data.name,
        raw_phone=data.phone,
        password=data.password,
        kind=PromoterKind.INDIVIDUAL,
        region="",
        invite_code=data.invite_code,
        source="signup",
    )


def create_promoter(
    session: Session, actor: Principal | None, data: PromoterCreate
) -> SignupResult:
    """Platform staff (or the system) create a promoter with its promoter-role login."""
    if actor is not None:
        actor.require_platform()
    return _create(
        session,
        actor=actor,
        name=data.name,
        raw_phone=data.phone,
        password=data.password,
        kind=data.kind,
        region=data.region.strip(),
        invite_code=data.invite_code,
        source="admin" if actor is not None else "system",
    )


def _create(
    session: Session,
    *,
    actor: Principal | None,
    name: str,
    raw_phone: str,
    password: str,
    kind: PromoterKind,
    region: str,
    invite_code: str | None,
    source: str,
) -> SignupResult:
    # Check everything first so a refused sign-up writes nothing.
    name = _check_name(name)
    phone = normalize_phone(raw_phone)
    _check_password(password)
    promoters = PromoterRepository(session)
    phone_index = blind_index(phone)
    if promoters.get_by_phone_index(phone_index) is not None:
        raise PhoneAlreadyRegistered()
    code = normalize_invite_code(invite_code)
    inviter = find_inviter(session, code) if code else None
    mode = current_binding_mode()
    if inviter is not None:
        refusal = rules.binding_refusal(
            promoter_id=None,
            current_inviter_id=None,
            candidate_inviter_id=inviter.id,
            candidate_ancestor_ids=(),
            candidate_is_active=inviter.status == PromoterStatus.ACTIVE,
            is_new=True,
            mode=mode,
        )
        if refusal is not None:  # pragma: no cover - a new promoter may always bind
            raise _REFUSAL_ERRORS[refusal]()
    grade = ensure_default_grades(session)

    promoter = Promoter(
        name=name,
        kind=kind,
        phone_encrypted=encrypt(phone),
        phone_index=phone_index,
        invite_code=_new_invite_code(promoters),
        inviter_id=inviter.id if inviter is not None else None,
        grade_id=grade.id,
        status=PromoterStatus.ACTIVE,
        region=region,
    )
    # One savepoint for the promoter and its login: if either is refused, neither stays.
    try:
        with session.begin_nested():
            promoters.add(promoter)
            user = auth_service.create_user(
                session,
                None,
                UserCreate(
                    username=phone,
                    display_name=name,
                    password=password,
                    role=Role.PROMOTER,
                    promoter_id=promoter.id,
                ),
            )
    except auth_service.UsernameTaken as error:
        raise PhoneAlreadyRegistered() from error
    except IntegrityError as error:
        # Lost a race with a concurrent sign-up of the same phone.
        if promoters.get_by_phone_index(phone_index) is not None:
            raise PhoneAlreadyRegistered() from error
        raise

    # A self sign-up is the new person's own act; a system creation has no acting user.
    actor_user_id = actor.user_id if actor is not None else None
    if source == "signup":
        actor_user_id = user.id
    audit.record(
        session,
        actor_user_id,
        "promoter.created",
        "promoter",
        promoter.id,
        source=source,
        inviter_id=promoter.inviter_id,
    )
    if inviter is not None:
        _record_binding(session, actor_user_id, promoter, None, mode, source)
        _queue_grade_evaluation(session, [inviter.id, inviter.inviter_id])
    return SignupResult(promoter, user)


def _record_binding(
    session: Session,
    actor_user_id: int | None,
    promoter: Promoter,
    previous_inviter_id: int | None,
    mode: BindingMode,
    source: str,
) -> None:
    BindingRepository(session).add(
        PromoterBinding(
            promoter_id=promoter.id,
            inviter_id=promoter.inviter_id,
            previous_inviter_id=previous_inviter_id,
            mode=mode,
            source=source,
            bound_at=utc_now(),
        )
    )
    audit.promoter_rebound(
        session, actor_user_id, promoter.id, previous_inviter_id, promoter.inviter_id
    )


# ---- reading ---------------------------------------------------------------------------------


def get_promoter(session: Session, actor: Principal, promoter_id: int) -> Promoter:
    """Platform staff see every promoter; a promoter sees only itself (others are 404)."""
    if not _can_see(actor, promoter_id):
        raise PromoterNotFound()
    promoter = PromoterRepository(session).get(promoter_id)
    if promoter is None:
        raise PromoterNotFound()
    return promoter


def get_own_promoter(session: Session, actor: Principal) -> Promoter:
    if actor.role != Role.PROMOTER or actor.promoter_id is None:
        raise NotAPromoter()
    return get_promoter(session, actor, actor.promoter_id)


def list_promoters(
    session: Session,
    actor: Principal,
    page: PageRequest,
    query: str = "",
    grade_id: int | None = None,
    status: PromoterStatus | None = None,
    kind: PromoterKind | None = None,
) -> Page[Promoter]:
    """``query`` is a name fragment, or a full phone number (matched through the blind index)."""
    actor.require_platform()
    query = query.strip()
    phone_index: str | None = None
    if query:
        try:
            phone_index = blind_index(normalize_phone(query))
        except PhoneInvalid:
            phone_index = None
    filters = PromoterFilter(
        name=query, phone_index=phone_index, grade_id=grade_id, status=status, kind=kind
    )
    return PromoterRepository(session).search(filters, page)


def team_counts(session: Session, actor: Principal, promoter_id: int) -> TeamCounts:
    promoter = get_promoter(session, actor, promoter_id)
    promoters = PromoterRepository(session)
    return TeamCounts(
        direct_recruits=promoters.count_direct(promoter.id),
        second_level=promoters.count_second_level(promoter.id),
    )


def get_team(
    session: Session, actor: Principal, promoter_id: int, page: PageRequest | None = None
) -> Team:
    """Direct recruits (L1, one page) with their recruits (L2). Never deeper (product.md §3)."""
    owner = get_promoter(session, actor, promoter_id)
    promoters = PromoterRepository(session)
    direct = promoters.direct_recruits(owner.id, page or PageRequest(1, 50))
    ids = [member.id for member in direct.items]
    recruit_counts = promoters.recruit_counts(ids)
    recruits = promoters.recruits_of(ids, MAX_SECOND_LEVEL_SHOWN)
    members = [
        TeamMember(member, recruit_counts.get(member.id, 0), recruits.get(member.id, []))
        for member in direct.items
    ]
    counts = TeamCounts(direct.total, promoters.count_second_level(owner.id))
    return Team(owner, counts, Page(members, direct.total, direct.request))


def binding_history(session: Session, actor: Principal, promoter_id: int) -> list[BindingRecord]:
    promoter = get_promoter(session, actor, promoter_id)
    history = BindingRepository(session).history(promoter.id)
    names = {
        item.id: item.name
        for item in PromoterRepository(session)
        .get_many(
            [
                promoter_id
                for binding in history
                for promoter_id in (binding.inviter_id, binding.previous_inviter_id)
                if promoter_id is not None
            ]
        )
        .values()
    }
    return [
        BindingRecord(
            binding,
            names.get(binding.inviter_id) if binding.inviter_id is not None else None,
            names.get(binding.previous_inviter_id)
            if binding.previous_inviter_id is not None
            else None,
        )
        for binding in history
    ]


# ---- binding an existing promoter ------------------------------------------------------------


def bind_inviter(session: Session, actor: Principal, invite_code: str) -> Promoter:
    """The signed-in promoter submits another promoter's invite code; the binding mode decides."""
    own = get_own_promoter(session, actor)
    code = normalize_invite_code(invite_code) or ""
    promoters = PromoterRepository(session)
    candidate = promoters.get_by_invite_code(code)
    if candidate is None:
        raise InviteCodeNotFound(invite_code=invite_code.strip())

    # Lock the promoter, the candidate and the candidate's whole ancestor chain (id order), so
    # two concurrent bindings that would together close a cycle are serialised; retry if the
    # chain moved while we waited for the locks.
    chain: list[int] = []
    locked: dict[int, Promoter] = {}
    for _ in range(MAX_CHAIN_LOCK_ATTEMPTS):
        chain = promoters.ancestor_ids(candidate.id)
        locked = promoters.lock([own.id, candidate.id, *chain])
        if promoters.ancestor_ids(candidate.id) == chain:
            break
    else:
        raise BindingBusy()
    promoter = locked[own.id]
    candidate = locked[candidate.id]

    mode = current_binding_mode()
    refusal = rules.binding_refusal(
        promoter_id=promoter.id,
        current_inviter_id=promoter.inviter_id,
        candidate_inviter_id=candidate.id,
        candidate_ancestor_ids=chain,
        candidate_is_active=candidate.status == PromoterStatus.ACTIVE,
        is_new=False,
        mode=mode,
    )
    if refusal is not None:
        raise _REFUSAL_ERRORS[refusal]()
    previous_inviter_id = promoter.inviter_id
    promoter.inviter_id = candidate.id
    session.flush()
    _record_binding(session, actor.user_id, promoter, previous_inviter_id, mode, "rebind")
    _queue_grade_evaluation(session, [candidate.id, candidate.inviter_id])
    return promoter


# ---- freezing --------------------------------------------------------------------------------


def freeze_promoter(
    session: Session, actor: Principal | None, promoter_id: int, reason: str
) -> Promoter:
    return _set_frozen(session, actor, promoter_id, reason, frozen=True)


def unfreeze_promoter(
    session: Session, actor: Principal | None, promoter_id: int, reason: str
) -> Promoter:
    return _set_frozen(session, actor, promoter_id, reason, frozen=False)


def _set_frozen(
    session: Session, actor: Principal | None, promoter_id: int, reason: str, frozen: bool
) -> Promoter:
    if actor is not None:
        actor.require_admin()
    reason = _check_reason(reason)
    promoter = PromoterRepository(session).lock([promoter_id]).get(promoter_id)
    if promoter is None:
        raise PromoterNotFound()
    if frozen and promoter.status == PromoterStatus.FROZEN:
        raise PromoterAlreadyFrozen()
    if not frozen and promoter.status != PromoterStatus.FROZEN:
        raise PromoterNotFrozen()
    promoter.status = PromoterStatus.FROZEN if frozen else PromoterStatus.ACTIVE
    promoter.frozen_reason = reason if frozen else None
    if actor is not None:
        audit.promoter_frozen(session, actor.user_id, promoter.id, frozen, reason)
    else:
        action = "promoter.frozen" if frozen else "promoter.unfrozen"
        audit.record(session, None, action, "promoter", promoter.id, reason)
    return promoter


# ---- grade evaluation (jobs) -----------------------------------------------------------------


def _grade_rules(grades: list[PromoterGrade]) -> list[rules.GradeRule]:
    return [
        rules.GradeRule(
            grade_id=grade.id,
            level=grade.level,
            min_direct_recruits=grade.min_direct_recruits,
            min_team_size=grade.min_team_size,
            min_gmv_fen=grade.min_gmv_fen,
        )
        for grade in grades
    ]


def _stats(direct_recruits: int, team_size: int) -> rules.TeamStats:
    # GMV is not recorded yet (orders come later): treat it as 0, so a grade with a GMV
    # threshold above 0 is not reached automatically until orders feed this.
    return rules.TeamStats(direct_recruits=direct_recruits, team_size=team_size, gmv_fen=0)


def evaluate_grade(session: Session, promoter_id: int) -> PromoterGrade | None:
    """Upgrade one promoter if its team now meets a higher grade. Returns the new grade.

    Counts only active team members (frozen accounts must not lift a grade); a frozen promoter
    is not upgraded. Idempotent: a second run finds nothing to do.
    """
    upgraded = _upgrade(session, [promoter_id])
    return upgraded.get(promoter_id)


def evaluate_grades_batch(session: Session, after_id: int, limit: int = 500) -> int | None:
    """Evaluate the next ``limit`` active promoters after ``after_id``; the last id, or None."""
    ids = PromoterRepository(session).ids_after(after_id, limit)
    if not ids:
        return None
    _upgrade(session, ids)
    return ids[-1]


def _upgrade(session: Session, promoter_ids: list[int]) -> dict[int, PromoterGrade]:
    grades = GradeRepository(session).all()
    if not grades:
        return {}
    by_id = {grade.id: grade for grade in grades}
    grade_rules = _grade_rules(grades)
    promoters = PromoterRepository(session)
    stats = promoters.active_team_stats(promoter_ids)
    current = promoters.get_many(promoter_ids)
    candidates = [
        promoter_id
        for promoter_id, promoter in current.items()
        if promoter.status == PromoterStatus.ACTIVE
        and rules.grade_upgrade(promoter.grade.level, grade_rules, _stats(*stats[promoter_id]))
    ]
    upgraded: dict[int, PromoterGrade] = {}
    # Re-check under the lock: a concurrent evaluation may have upgraded it already.
    for promoter_id, promoter in promoters.lock(candidates).items():
        if promoter.status != PromoterStatus.ACTIVE:
            continue
        level = by_id[promoter.grade_id].level
        team = _stats(*stats[promoter_id])
        target = rules.grade_upgrade(level, grade_rules, team)
        if target is None:
            continue
        previous = by_id[promoter.grade_id]
        promoter.grade = by_id[target.grade_id]
        upgraded[promoter_id] = by_id[target.grade_id]
        audit.record(
            session,
            None,
            "promoter.grade_upgraded",
            "promoter",
            promoter_id,
            from_grade=previous.code,
            to_grade=by_id[target.grade_id].code,
            direct_recruits=team.direct_recruits,
            team_size=team.team_size,
        )
    return upgraded
