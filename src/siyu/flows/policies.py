"""Per-backend reply limits: how many messages siyu may send after a customer's message.

WeCom 微信客服 allows at most 5 replies within 48 hours of each customer message; the other
backends have no limit. A backend (or a test's fake) registers its own policy by name.
"""

from __future__ import annotations

from siyu.flows.rules import UNLIMITED, WECOM_KEFU, ReplyPolicy

PRESETS: dict[str, ReplyPolicy] = {"wecom": WECOM_KEFU}

_policies: dict[str, ReplyPolicy] = dict(PRESETS)


def register_reply_policy(backend: str, policy: ReplyPolicy) -> None:
    _policies[backend] = policy


def unregister_reply_policy(backend: str) -> None:
    """Back to the preset (or no limit)."""
    if backend in PRESETS:
        _policies[backend] = PRESETS[backend]
    else:
        _policies.pop(backend, None)


def policy_for(backend: str) -> ReplyPolicy:
    return _policies.get(backend, UNLIMITED)
