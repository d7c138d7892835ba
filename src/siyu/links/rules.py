"""Pure tracked-link rules: sub-ids, activity URLs, expiry, landing destinations. No I/O.

Every check returns the cleaned value or raises the ``AppError`` that tells a person what to
fix; the service runs all of them before its first write.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from siyu.errors import ValidationFailed
from siyu.models.links import LinkTargetKind

SUB_ID_MAX_LENGTH = 80
ACTIVITY_URL_MAX_LENGTH = 500
USER_AGENT_MAX_LENGTH = 255
# Short codes use kit.ids.READABLE_ALPHABET: 31^7 ≈ 2.75e10 codes, so a random pick collides
# with an existing one with negligible probability even at 10^8 links (one retry covers it).
SHORT_CODE_LENGTH = 7
SHORT_CODE_MAX_LENGTH = 16


class SubIdTooLong(ValidationFailed):
    code = "sub_id_too_long"
    message_en = "sub_id must be at most {limit} characters, got {length}."
    message_zh = "子渠道标识（sub-id）最多 {limit} 个字符，您填写了 {length} 个，请缩短后重试。"


class SubIdInvalid(ValidationFailed):
    code = "sub_id_invalid"
    message_en = "sub_id must not contain control characters or line breaks."
    message_zh = "子渠道标识（sub-id）不能包含换行或不可见字符，请只填写文字、字母或数字。"


class ActivityUrlInvalid(ValidationFailed):
    code = "activity_url_invalid"
    message_en = (
        "activity_url must be a path on this site (starting with /) or an http(s) URL on {host}."
    )
    message_zh = (
        "活动页地址无效：只能填写本平台的活动页（以 / 开头的路径，或 {host} 下的链接），"
        "不能跳转到外部网站。"
    )


def check_sub_id(raw: str | None) -> str:
    """Free text the promoter uses to tell its own groups or posters apart (≤ 80 characters)."""
    value = (raw or "").strip()
    if len(value) > SUB_ID_MAX_LENGTH:
        raise SubIdTooLong(limit=SUB_ID_MAX_LENGTH, length=len(value))
    if any(not character.isprintable() for character in value):
        raise SubIdInvalid()
    return value


def check_activity_url(raw: str, base_url: str) -> str:
    """Only siyu's own pages: a link must never become an open redirect to another site
    (phishing, and WeChat blocks domains that redirect to unreviewed pages)."""
    value = raw.strip()
    host = urlsplit(base_url).netloc
    if not value or len(value) > ACTIVITY_URL_MAX_LENGTH or any(c.isspace() for c in value):
        raise ActivityUrlInvalid(host=host)
    if value.startswith("/"):
        if value.startswith("//") or "\\" in value:
            raise ActivityUrlInvalid(host=host)
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.netloc != host:
        raise ActivityUrlInvalid(host=host)
    return value


def expires_at(created_at: datetime, expiry_days: int) -> datetime:
    return created_at + timedelta(days=expiry_days)


def target_slug(kind: LinkTargetKind, target_id: int) -> str:
    """The readable target segment of a long link: p42 (product), c7 (coupon), a15 (activity)."""
    prefix = {LinkTargetKind.PRODUCT: "p", LinkTargetKind.COUPON: "c", LinkTargetKind.ACTIVITY: "a"}
    return f"{prefix[kind]}{target_id}"


def target_id(
    kind: LinkTargetKind, link_id: int, product_id: int | None, coupon_batch_id: int | None
) -> int:
    """The id in a long link's target segment (an activity link is named by its own id)."""
    if kind == LinkTargetKind.PRODUCT and product_id is not None:
        return product_id
    if kind == LinkTargetKind.COUPON and coupon_batch_id is not None:
        return coupon_batch_id
    return link_id


def destination(
    kind: LinkTargetKind,
    product_id: int | None,
    coupon_batch_id: int | None,
    activity_url: str | None,
) -> str:
    """Where the redirect sends the consumer (before ``?click=`` is added)."""
    if kind == LinkTargetKind.PRODUCT and product_id is not None:
        return product_landing_path(product_id)
    if kind == LinkTargetKind.COUPON and coupon_batch_id is not None:
        return coupon_landing_path(coupon_batch_id)
    return activity_url or "/"


def product_landing_path(product_id: int) -> str:
    return f"/m/products/{product_id}"


def coupon_landing_path(coupon_batch_id: int) -> str:
    return f"/m/coupons/{coupon_batch_id}"


def with_click(destination: str, click_token: str) -> str:
    """Append ``click=<token>`` to a landing URL (tokens are URL-safe: no quoting needed)."""
    base, _, fragment = destination.partition("#")
    separator = "&" if "?" in base else "?"
    result = f"{base}{separator}click={click_token}"
    return f"{result}#{fragment}" if fragment else result


class RedirectOutcome(enum.StrEnum):
    REDIRECT = "redirect"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    DISABLED = "disabled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RedirectEntry:
    """What the redirect needs to know about a link; cached in process (see LinkCache)."""

    link_id: int
    promoter_id: int
    invite_code: str
    target_slug: str
    destination: str
    expires_at_timestamp: float
    is_active: bool


def redirect_outcome(
    entry: RedirectEntry | None, now_timestamp: float, long_form: bool
) -> RedirectOutcome:
    """Disabled wins over expired (it is the more specific reason); the long form never expires."""
    if entry is None:
        return RedirectOutcome.UNKNOWN
    if not entry.is_active:
        return RedirectOutcome.DISABLED
    if not long_form and now_timestamp >= entry.expires_at_timestamp:
        return RedirectOutcome.EXPIRED
    return RedirectOutcome.REDIRECT


def normalize_short_code(raw: str) -> str | None:
    """Codes are typed off posters: accept lower case; anything else malformed is unknown."""
    code = raw.strip().upper()
    if not code or len(code) > SHORT_CODE_MAX_LENGTH or not code.isalnum() or not code.isascii():
        return None
    return code


def truncate_user_agent(raw: str) -> str:
    return raw[:USER_AGENT_MAX_LENGTH]
