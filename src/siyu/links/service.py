"""Tracked links (推广链接): create, list, disable, count clicks; resolve a code for the redirect.

Never commits. A promoter creates, lists and disables only its own links (another promoter's
link is reported as not found); platform staff see and may disable every link; ``actor`` None
is the system (demo loader, benchmarks), which may do anything.

The redirect's hot path lives in ``routes.py`` and calls only the in-memory parts here
(``redirect_context``, ``LinkCache.get``, ``new_click``); a cache miss runs
``load_redirect_entry`` in a worker thread.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from itsdangerous import BadSignature, Signer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import SYSTEM, Principal
from siyu.catalog import service as catalog_service
from siyu.config import Settings, current_settings
from siyu.db import after_commit
from siyu.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.kit.ids import readable_code
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.qr import qr_png
from siyu.kit.time import utc_now
from siyu.links import rules
from siyu.links.clicks import ClickRow
from siyu.links.repository import ClickRepository, LinkRepository
from siyu.links.schemas import LinkCreate
from siyu.models import (
    LINK_POSITION_LABELS,
    Click,
    LinkPosition,
    LinkTargetKind,
    MerchantStatus,
    Promoter,
    PromoterStatus,
    Role,
    TrackedLink,
)
from siyu.promoters import service as promoters_service


class LinkNotFound(NotFound):
    code = "link_not_found"
    message_en = "Tracked link not found."
    message_zh = "找不到该推广链接，它可能不存在，或不属于您的账号。"


class LinkTargetMissing(ValidationFailed):
    code = "link_target_missing"
    message_en = "{field} is required for a {kind} link (and the other targets must be empty)."
    message_zh = "请选择要推广的{kind_zh}。"


class LinkProductNotInPool(NotFound):
    code = "link_product_not_in_pool"
    message_en = "Product {product_id} is not in the promotion pool (approved and on the shelf)."
    message_zh = "该商品不在推广池中（需审核通过并上架），不能生成推广链接。请从推广池中选择商品。"


class LinkCouponUnavailable(Conflict):
    code = "link_coupon_unavailable"
    message_en = "Coupon batch {coupon_batch_id} is inactive, expired or not found."
    message_zh = "该优惠券批次已停用、已过期或不存在，不能生成推广链接。请选择其他优惠券。"


class LinkOwnerFrozen(Conflict):
    code = "link_owner_frozen"
    message_en = "The promoter's account is frozen and cannot create links."
    message_zh = "您的账号已被冻结，暂时不能生成新的推广链接。如有疑问请联系平台客服。"


class LinkCodeExhausted(Conflict):  # pragma: no cover - needs ~10^10 links to happen
    code = "link_code_exhausted"
    message_en = "Could not find a free short code; try again."
    message_zh = "生成短链接失败，请重试。"


SHORT_CODE_ATTEMPTS = 5
CONSUMER_COOKIE: Final = "siyu_consumer"
_CONSUMER_COOKIE_SALT = "siyu.consumer"
# An unknown code is cached briefly: it stops a flood of bad codes reaching the database while
# a code created a moment ago in another process still resolves within seconds.
MISS_TTL_SECONDS = 5.0


# ---- who may see which link -----------------------------------------------------------------


def _actor_user_id(actor: Principal | None) -> int | None:
    if actor is None or actor.user_id == 0:
        return None
    return actor.user_id


def _promoter_scope(actor: Principal | None) -> int | None:
    """None: sees every link. Otherwise the only promoter whose links this actor sees."""
    if actor is None or actor.is_platform:
        return None
    if actor.role == Role.PROMOTER and actor.promoter_id is not None:
        return actor.promoter_id
    raise PermissionDenied()


def _owner(session: Session, actor: Principal | None, promoter_id: int | None) -> Promoter:
    if actor is None:
        if promoter_id is None:
            raise ValidationFailed(field="promoter_id")
        return promoters_service.get_promoter(session, SYSTEM, promoter_id)
    # Links are the promoter's own tool: platform staff do not create them on its behalf.
    return promoters_service.get_own_promoter(session, actor)


def _invalidate_after_commit(session: Session, *keys: str | int) -> None:
    def invalidate() -> None:
        redirect_context().cache.invalidate(*keys)

    after_commit(session, invalidate)


# ---- creating ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    kind: LinkTargetKind
    product_id: int | None = None
    coupon_batch_id: int | None = None
    activity_url: str | None = None


def _check_target(session: Session, data: LinkCreate) -> _Target:
    kind = data.target_kind
    if kind == LinkTargetKind.PRODUCT:
        if data.product_id is None or data.coupon_batch_id is not None or data.activity_url:
            raise LinkTargetMissing(field="product_id", kind="product", kind_zh="推广池商品")
        try:
            product = catalog_service.get_pool_product(session, None, data.product_id)
        except catalog_service.ProductNotFound as error:
            raise LinkProductNotInPool(product_id=data.product_id) from error
        return _Target(kind, product_id=product.id)
    if kind == LinkTargetKind.COUPON:
        if data.coupon_batch_id is None or data.product_id is not None or data.activity_url:
            raise LinkTargetMissing(field="coupon_batch_id", kind="coupon", kind_zh="优惠券")
        try:
            batch = catalog_service.get_coupon_batch(session, None, data.coupon_batch_id)
        except catalog_service.CouponBatchNotFound as error:
            raise LinkCouponUnavailable(coupon_batch_id=data.coupon_batch_id) from error
        if (
            not batch.is_active
            or batch.valid_until <= utc_now()
            or batch.merchant.status != MerchantStatus.ACTIVE
        ):
            raise LinkCouponUnavailable(coupon_batch_id=batch.id)
        return _Target(kind, coupon_batch_id=batch.id)
    if not data.activity_url or data.product_id is not None or data.coupon_batch_id is not None:
        raise LinkTargetMissing(field="activity_url", kind="activity", kind_zh="活动页")
    url = rules.check_activity_url(data.activity_url, current_settings().base_url)
    return _Target(kind, activity_url=url)


def create_link(
    session: Session, actor: Principal | None, data: LinkCreate, promoter_id: int | None = None
) -> TrackedLink:
    """A promoter's new link (``promoter_id`` only for the system actor). Checks, then writes."""
    promoter = _owner(session, actor, promoter_id)
    if promoter.status == PromoterStatus.FROZEN:
        raise LinkOwnerFrozen()
    sub_id = rules.check_sub_id(data.sub_id)
    target = _check_target(session, data)
    now = utc_now()
    links = LinkRepository(session)
    for _ in range(SHORT_CODE_ATTEMPTS):
        code = readable_code(rules.SHORT_CODE_LENGTH)
        if links.short_code_taken(code):
            continue  # pragma: no cover - 1 in 10^10
        link = TrackedLink(
            promoter_id=promoter.id,
            target_kind=target.kind,
            product_id=target.product_id,
            coupon_batch_id=target.coupon_batch_id,
            activity_url=target.activity_url,
            position=data.position,
            sub_id=sub_id,
            short_code=code,
            expires_at=rules.expires_at(now, current_settings().link_expiry_days),
            is_active=True,
            created_at=now,
        )
        try:
            with session.begin_nested():
                links.add(link)
        except IntegrityError:  # pragma: no cover - a concurrent create took the same code
            continue
        # A brief "unknown" may be cached for this code (someone typed it early): drop it.
        _invalidate_after_commit(session, code)
        return link
    raise LinkCodeExhausted()  # pragma: no cover


# ---- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkView:
    link: TrackedLink
    click_count: int
    target_title: str


@dataclass(frozen=True)
class PositionClicks:
    position: LinkPosition
    label: str
    link_count: int
    click_count: int


@dataclass(frozen=True)
class LinkStats:
    promoter_id: int | None
    total_clicks: int
    by_position: list[PositionClicks]


def get_link(session: Session, actor: Principal | None, link_id: int) -> TrackedLink:
    scope = _promoter_scope(actor)
    link = LinkRepository(session).get(link_id)
    if link is None or (scope is not None and link.promoter_id != scope):
        raise LinkNotFound()
    return link


def target_title(link: TrackedLink) -> str:
    if link.target_kind == LinkTargetKind.PRODUCT and link.product is not None:
        return link.product.title
    if link.target_kind == LinkTargetKind.COUPON and link.coupon_batch is not None:
        return link.coupon_batch.name
    return link.activity_url or ""


def view_link(session: Session, actor: Principal | None, link_id: int) -> LinkView:
    link = get_link(session, actor, link_id)
    counts = ClickRepository(session).counts_by_link([(link.promoter_id, link.id)])
    return LinkView(link, counts.get(link.id, 0), target_title(link))


def list_links(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    promoter_id: int | None = None,
    active_only: bool = False,
) -> Page[LinkView]:
    """Newest first, each with its click count (clicks reach the database within a flush)."""
    scope = _promoter_scope(actor)
    if scope is not None:
        if promoter_id is not None and promoter_id != scope:
            return Page([], 0, page)
        promoter_id = scope
    result = LinkRepository(session).list(page, promoter_id, active_only)
    counts = ClickRepository(session).counts_by_link(
        [(link.promoter_id, link.id) for link in result.items]
    )
    views = [LinkView(link, counts.get(link.id, 0), target_title(link)) for link in result.items]
    return Page(views, result.total, page)


def link_stats(
    session: Session, actor: Principal | None, promoter_id: int | None = None
) -> LinkStats:
    """Links and clicks per position (推广位), for one promoter or (platform) everyone."""
    scope = _promoter_scope(actor)
    if scope is not None:
        promoter_id = scope
    clicks = ClickRepository(session).counts_by_position(promoter_id)
    links = LinkRepository(session).link_counts_by_position(promoter_id)
    by_position = [
        PositionClicks(position, LINK_POSITION_LABELS[position], links.get(position, 0), count)
        for position in LinkPosition
        for count in [clicks.get(position, 0)]
    ]
    return LinkStats(promoter_id, sum(clicks.values()), by_position)


def find_click(session: Session, click_token: str) -> Click | None:
    """The click a landing page or checkout carries as ``?click=`` (written within a flush)."""
    return ClickRepository(session).get_by_token(click_token)


# ---- disabling --------------------------------------------------------------------------------


def disable_link(session: Session, actor: Principal | None, link_id: int) -> TrackedLink:
    """Stop a link at once (both forms). Idempotent: disabling twice changes nothing."""
    get_link(session, actor, link_id)
    link = LinkRepository(session).get_for_update(link_id)
    if link is None:  # pragma: no cover - links are never deleted
        raise LinkNotFound()
    if not link.is_active:
        return link
    link.is_active = False
    link.disabled_at = utc_now()
    audit.record(
        session,
        _actor_user_id(actor),
        "link.disabled",
        "tracked_link",
        link.id,
        promoter_id=link.promoter_id,
        short_code=link.short_code,
    )
    _invalidate_after_commit(session, link.short_code, link.id)
    return link


# ---- URLs and QR ------------------------------------------------------------------------------


def _base_url() -> str:
    return current_settings().base_url.rstrip("/")


def target_id(link: TrackedLink) -> int:
    return rules.target_id(link.target_kind, link.id, link.product_id, link.coupon_batch_id)


def short_url(link: TrackedLink) -> str:
    return f"{_base_url()}/s/{link.short_code}"


def long_path(link_id: int, invite_code: str, slug: str) -> str:
    return f"/l/{invite_code}/{link_id}/{slug}"


def long_url(link: TrackedLink) -> str:
    """Never expires: the promoter's invite code, the link id and the readable target."""
    slug = rules.target_slug(link.target_kind, target_id(link))
    return _base_url() + long_path(link.id, link.promoter.invite_code, slug)


def link_qr_png(link: TrackedLink, long_form: bool = False) -> bytes:
    return qr_png(long_url(link) if long_form else short_url(link))


def is_expired(link: TrackedLink) -> bool:
    return link.expires_at <= utc_now()


# ---- the redirect -----------------------------------------------------------------------------


class CacheState(enum.Enum):
    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"


_MISSING: Final[tuple[CacheState, None]] = (CacheState.MISSING, None)


class LinkCache:
    """In-process LRU with a TTL for redirect lookups. Thread-safe (invalidation comes from
    request threads after a commit); every operation is O(1) under one uncontended lock.

    An entry is FRESH for its TTL, then STALE for as long again: the redirect still answers from
    a stale entry while it reloads the entry in the background, so no click waits for the
    database when a popular link's entry ages out. After that it is MISSING. With several
    processes, a disabled link keeps redirecting in the *other* processes for at most about
    ``link_cache_ttl_seconds`` (the reload of a stale entry takes milliseconds); expiry is
    checked on every answer.
    """

    def __init__(self, max_size: int, ttl_seconds: float) -> None:
        self.max_size = max_size
        self.ttl_seconds = ttl_seconds
        self._items: OrderedDict[Hashable, tuple[rules.RedirectEntry | None, float, float]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[CacheState, rules.RedirectEntry | None]:
        """The entry and how fresh it is; an entry of None means "known not to exist"."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return _MISSING
            entry, fresh_until, stale_until = item
            now = time.monotonic()
            if now < fresh_until:
                self._items.move_to_end(key)
                return CacheState.FRESH, entry
            if now < stale_until:
                return CacheState.STALE, entry
            del self._items[key]
            return _MISSING

    def put(self, key: Hashable, entry: rules.RedirectEntry | None) -> None:
        if self.max_size <= 0 or self.ttl_seconds <= 0:
            return
        ttl = self.ttl_seconds if entry is not None else min(self.ttl_seconds, MISS_TTL_SECONDS)
        now = time.monotonic()
        with self._lock:
            self._items[key] = (entry, now + ttl, now + 2 * ttl)
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)

    def invalidate(self, *keys: Hashable) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class RedirectContext:
    """Everything the redirect derives from the settings once, not per request."""

    settings: Settings
    cache: LinkCache
    ip_hmac: hmac.HMAC
    consumer_signer: Signer


_context: list[RedirectContext] = []
_context_lock = threading.Lock()


def redirect_context() -> RedirectContext:
    settings = current_settings()
    if _context and _context[0].settings is settings:
        return _context[0]
    with _context_lock:
        if _context and _context[0].settings is settings:
            return _context[0]
        # Separate keys per purpose: an IP hash is not comparable with a phone's blind index.
        ip_key = hashlib.sha256(("click-ip:" + settings.resolved_encryption_key).encode()).digest()
        context = RedirectContext(
            settings=settings,
            cache=LinkCache(settings.link_cache_size, settings.link_cache_ttl_seconds),
            ip_hmac=hmac.new(ip_key, digestmod=hashlib.sha256),
            consumer_signer=Signer(settings.resolved_secret_key, salt=_CONSUMER_COOKIE_SALT),
        )
        _context[:] = [context]
        return context


def consumer_cookie_value(consumer_id: int) -> str:
    """The signed value checkout sets in the ``siyu_consumer`` cookie once it knows the buyer."""
    return redirect_context().consumer_signer.sign(str(consumer_id)).decode()


def consumer_id_from_cookie(context: RedirectContext, value: str) -> int | None:
    try:
        raw = context.consumer_signer.unsign(value)
    except BadSignature:
        return None
    return int(raw) if raw.isdigit() else None


def ip_hash(context: RedirectContext, ip: str) -> str:
    """HMAC-SHA256 under a key derived from the encryption key: equal IPs compare equal (fraud
    checks), the raw IP is never stored, and without the key the hash cannot be reversed by
    trying all 2^32 IPv4 addresses."""
    digest = context.ip_hmac.copy()  # the keyed state is computed once, not per click
    digest.update(ip.encode())
    return digest.hexdigest()


class _RandomPool:
    """CSPRNG bytes from ``os.urandom`` in 4 KiB draws: one getrandom() system call per ~400
    tokens instead of one per click (on a busy machine a system call on the hot path is where
    the server gets preempted). Reset in a forked child so two processes never share bytes."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buffer = b""
        self._offset = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._buffer = b""
        self._offset = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._buffer):
                self._buffer = os.urandom(self._size)
                self._offset = 0
            start = self._offset
            self._offset = start + count
            return self._buffer[start : start + count]


_random_pool = _RandomPool()


def new_click_token() -> str:
    """32 hex characters: the time in milliseconds (48 bits), then 80 random bits.

    Unguessable, and time-ordered so each batch appends at the right edge of the unique index
    instead of dirtying a random page per row (a purely random token cost ~25% more per write).
    """
    return f"{time.time_ns() // 1_000_000:012x}{_random_pool.take(10).hex()}"


def load_redirect_entry(
    session: Session, *, short_code: str | None = None, link_id: int | None = None
) -> rules.RedirectEntry | None:
    """The cache miss: one indexed query (a link by code or id, with its promoter's code)."""
    row = LinkRepository(session).redirect_row(short_code=short_code, link_id=link_id)
    if row is None:
        return None
    return rules.RedirectEntry(
        link_id=row.id,
        promoter_id=row.promoter_id,
        invite_code=row.invite_code,
        target_slug=rules.target_slug(
            row.target_kind,
            rules.target_id(row.target_kind, row.id, row.product_id, row.coupon_batch_id),
        ),
        destination=rules.destination(
            row.target_kind, row.product_id, row.coupon_batch_id, row.activity_url
        ),
        expires_at_timestamp=row.expires_at.timestamp(),
        is_active=row.is_active,
    )


def new_click(
    context: RedirectContext,
    entry: rules.RedirectEntry,
    client_ip: str,
    user_agent: str,
    consumer_cookie: str | None,
    clicked_at: datetime | None = None,
) -> ClickRow:
    """A click row, built in memory (no I/O): the token is what the landing page carries."""
    return ClickRow(
        token=new_click_token(),
        link_id=entry.link_id,
        promoter_id=entry.promoter_id,
        clicked_at=clicked_at or utc_now(),
        ip_hash=ip_hash(context, client_ip),
        user_agent=rules.truncate_user_agent(user_agent),
        consumer_id=(
            consumer_id_from_cookie(context, consumer_cookie) if consumer_cookie else None
        ),
    )


def record_click(
    session: Session,
    link: TrackedLink,
    consumer_id: int | None = None,
    user_agent: str = "",
    ip: str = "",
) -> str:
    """Record one click in this transaction and return its token (the click id carried to the
    landing page). For loaders, simulations and imports; the redirect uses the ClickBuffer."""
    context = redirect_context()
    token = new_click_token()
    row = ClickRow(
        token=token,
        link_id=link.id,
        promoter_id=link.promoter_id,
        clicked_at=utc_now(),
        ip_hash=ip_hash(context, ip) if ip else "",
        user_agent=user_agent[:255],
        consumer_id=consumer_id,
    )
    ClickRepository(session).insert_many([row])
    return token
