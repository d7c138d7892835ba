"""Pure order rules: order numbers, the status machine, after-sale headroom, webhook signatures.

No I/O. Errors raised here are declared here (the service imports this module).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Final

from siyu.errors import AppError, Conflict, ValidationFailed
from siyu.kit.ids import readable_code
from siyu.kit.time import to_shanghai
from siyu.models import OrderStatus

# t=<unix>,v1=<hex>: a delivery older (or newer) than this is refused as a possible replay.
SIGNATURE_TOLERANCE_SECONDS: Final = 300
SIGNATURE_HEADER: Final = "X-Siyu-Signature"


class OrderTransitionInvalid(Conflict):
    code = "order_transition_invalid"
    message_en = "An order in status {status} cannot be {action}."
    message_zh = "订单当前状态为“{status_zh}”，不能{action_zh}，请刷新页面查看最新状态。"


class AfterSaleAmountInvalid(ValidationFailed):
    code = "after_sale_amount_invalid"
    message_en = "A refund must be between 0.01 and {available_yuan} yuan for this line."
    message_zh = (
        "退款金额必须在 0.01 元到 {available_yuan} 元之间（实付减去已退款和处理中的售后）。"
    )


class WebhookSignatureInvalid(AppError):
    status = 401
    code = "webhook_signature_invalid"
    message_en = "The X-Siyu-Signature header is missing, malformed or does not match the body."
    message_zh = "签名校验失败，请检查签名密钥和请求体。"


class WebhookTimestampStale(AppError):
    status = 401
    code = "webhook_timestamp_stale"
    message_en = "The signature timestamp is more than 5 minutes away from the server clock."
    message_zh = "签名时间戳与服务器时间相差超过 5 分钟，请检查服务器时间后重发。"


class WebhookNotConfigured(AppError):
    status = 401
    code = "webhook_not_configured"
    message_en = "The order webhook is disabled: SIYU_ORDER_WEBHOOK_SECRET is not set."
    message_zh = "订单回调未启用：平台尚未配置签名密钥。"


def new_order_no(now: datetime) -> str:
    """SY + Shanghai date + 8 readable characters, e.g. SY20261123K7P2XQ9M (18 characters).

    31^8 ≈ 8.5 × 10^11 codes per day; the unique index catches the (negligible) collision.
    """
    return f"SY{to_shanghai(now):%Y%m%d}{readable_code(8)}"


# (current status, action) -> new status; anything else is refused with nothing changed.
TRANSITIONS: Final[dict[tuple[OrderStatus, str], OrderStatus]] = {
    (OrderStatus.PAID, "ship"): OrderStatus.SHIPPED,
    (OrderStatus.PAID, "confirm"): OrderStatus.RECEIVED,
    (OrderStatus.SHIPPED, "confirm"): OrderStatus.RECEIVED,
    (OrderStatus.PAID, "cancel"): OrderStatus.CANCELLED,
}

ACTION_LABELS: Final = {
    "ship": "发货",
    "confirm": "确认收货",
    "cancel": "取消",
    "refund": "申请售后",
}
STATUS_LABELS: Final = {
    OrderStatus.PAID: "已支付",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.RECEIVED: "已收货",
    OrderStatus.CANCELLED: "已取消",
}


def next_status(status: OrderStatus, action: str) -> OrderStatus:
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise OrderTransitionInvalid(
            status=status.value,
            action=action,
            status_zh=STATUS_LABELS[status],
            action_zh=ACTION_LABELS.get(action, action),
        ) from None


def refundable_fen(paid_fen: int, refunded_fen: int, open_requests_fen: int) -> int:
    """What may still be requested on a line: paid − refunded − already requested (never < 0)."""
    return max(0, paid_fen - refunded_fen - open_requests_fen)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str | None, header: str | None, body: bytes, now_unix: int) -> None:
    """Raise unless ``header`` signs exactly ``body`` within the tolerance (constant time)."""
    if not secret:
        raise WebhookNotConfigured()
    if not header:
        raise WebhookSignatureInvalid()
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise WebhookSignatureInvalid()
    timestamp = int(stamps[0])
    expected = sign(secret, timestamp, body).partition(",v1=")[2]
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise WebhookSignatureInvalid()
    if abs(now_unix - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookTimestampStale()
