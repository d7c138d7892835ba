"""Pure attribution (归因) of an order to a promoter, and consumer binding (锁粉) decisions. No I/O.

Attribution (product.md §3): the last tracked click within the window wins; otherwise the
consumer's binding; otherwise nobody (natural traffic, no commission). Boundaries, which
product.md leaves open:

- A click at exactly ``ordered_at − window`` still counts (the window is inclusive at both ends;
  "within 15 days" read the way a person reads it).
- A click at exactly ``ordered_at`` counts; a click after it is ignored (it cannot have caused the
  order — a second tab, clock skew, a click logged late).
- Several clicks at the same instant: the last one in the given sequence wins, so the repository
  hands clicks over in the order they were recorded (id order).

The caller passes only clicks that may earn (an active promoter's live links); frozen promoters
are a service concern.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from siyu.commissions.rules import DEFAULT_ATTRIBUTION_WINDOW_DAYS, check_attribution_window_days
from siyu.kit.time import ensure_aware
from siyu.models.promoters import BindingMode


class AttributionSource(enum.StrEnum):
    CLICK = "click"
    BINDING = "binding"
    NONE = "none"


ATTRIBUTION_SOURCE_LABELS: Final = {
    AttributionSource.CLICK: "推广链接点击",
    AttributionSource.BINDING: "锁粉关系",
    AttributionSource.NONE: "无推手（自然流量）",
}


@dataclass(frozen=True)
class Click:
    clicked_at: datetime
    link_id: int
    promoter_id: int


@dataclass(frozen=True)
class Attribution:
    source: AttributionSource
    promoter_id: int | None
    link_id: int | None = None
    clicked_at: datetime | None = None
    self_purchase: bool = False
    """The buyer is the attributed promoter; the split decides what that earns (a policy flag)."""


def last_click_within(
    ordered_at: datetime,
    clicks: Sequence[Click],
    window_days: int = DEFAULT_ATTRIBUTION_WINDOW_DAYS,
) -> Click | None:
    end = ensure_aware(ordered_at)
    start = end - timedelta(days=check_attribution_window_days(window_days))
    winner: Click | None = None
    winner_at: datetime | None = None
    for click in clicks:
        at = ensure_aware(click.clicked_at)
        if start <= at <= end and (winner_at is None or at >= winner_at):
            winner, winner_at = click, at
    return winner


def attribute(
    *,
    ordered_at: datetime,
    clicks: Sequence[Click],
    bound_promoter_id: int | None,
    buyer_promoter_id: int | None = None,
    window_days: int = DEFAULT_ATTRIBUTION_WINDOW_DAYS,
) -> Attribution:
    """Who gets the order. ``buyer_promoter_id`` is the buyer's own promoter id, if they are one.

    A self-purchase keeps its attribution and is only flagged: falling back to the binding or an
    older click would hand the order to someone who did not make the last share.
    """
    click = last_click_within(ordered_at, clicks, window_days)
    if click is not None:
        return Attribution(
            source=AttributionSource.CLICK,
            promoter_id=click.promoter_id,
            link_id=click.link_id,
            clicked_at=ensure_aware(click.clicked_at),
            self_purchase=click.promoter_id == buyer_promoter_id,
        )
    if bound_promoter_id is not None:
        return Attribution(
            source=AttributionSource.BINDING,
            promoter_id=bound_promoter_id,
            self_purchase=bound_promoter_id == buyer_promoter_id,
        )
    return Attribution(source=AttributionSource.NONE, promoter_id=None)


def consumer_binding(
    *,
    mode: BindingMode,
    current_promoter_id: int | None,
    candidate_promoter_id: int | None,
    is_new: bool,
    buyer_promoter_id: int | None = None,
    candidate_is_active: bool = True,
) -> int | None:
    """The consumer's new binding, or None when it stays as it is.

    ``candidate_promoter_id`` is the promoter of the consumer's latest click (or of the order's
    attribution); ``is_new`` means the consumer has no order yet (the caller's definition).

    - first_bind_wins (default): bind only while unbound; never changes afterwards.
    - new_users_only: bind only a new, unbound consumer; an existing unbound consumer stays free.
    - override: the latest promoter rebinds.

    Never: self-binding (a promoter shopping as a consumer cannot lock themselves in), binding to a
    frozen promoter, or a "rebind" to the current promoter (no change, no history row). A consumer
    binding is one edge from a consumer to a promoter, so it cannot close a cycle.
    """
    if candidate_promoter_id is None or not candidate_is_active:
        return None
    if candidate_promoter_id == buyer_promoter_id:
        return None
    if candidate_promoter_id == current_promoter_id:
        return None
    if mode == BindingMode.OVERRIDE:
        return candidate_promoter_id
    if current_promoter_id is not None:
        return None
    if mode == BindingMode.NEW_USERS_ONLY and not is_new:
        return None
    return candidate_promoter_id
