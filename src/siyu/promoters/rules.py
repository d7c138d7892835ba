"""Pure promoter rules: who may bind to whom, and which grade a team earns. No I/O.

Binding modes (product.md §3), applied to a promoter choosing its inviter:

- ``first_bind_wins`` (default): a promoter may get an inviter once; after that it never changes.
- ``new_users_only``: an inviter is only set while the promoter is being created (sign-up); an
  existing promoter can never bind later, even if it has no inviter.
- ``override``: the latest valid invite code wins.

In every mode: no self-binding, no cycles (the promoter must not be in the candidate inviter's
ancestor chain), a frozen inviter cannot recruit, and binding again to the current inviter is
refused (it would only add a meaningless history row).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from siyu.models.promoters import BindingMode

# product.md §3: commission and the team view stop at two levels (L1 and L2); never deeper.
TEAM_DEPTH = 2

# Guard against walking a corrupt (cyclic) chain forever. Real chains are far shorter.
MAX_CHAIN_LENGTH = 10_000


class BindingRefusal(enum.StrEnum):
    SELF_BINDING = "self_binding"
    ALREADY_BOUND_TO_INVITER = "already_bound_to_inviter"
    INVITER_FROZEN = "inviter_frozen"
    ALREADY_BOUND = "already_bound"
    NOT_NEW = "not_new"
    CYCLE = "cycle"


def binding_refusal(
    *,
    promoter_id: int | None,
    current_inviter_id: int | None,
    candidate_inviter_id: int,
    candidate_ancestor_ids: Sequence[int],
    candidate_is_active: bool,
    is_new: bool,
    mode: BindingMode,
) -> BindingRefusal | None:
    """Why binding ``promoter_id`` to ``candidate_inviter_id`` is refused, or None if allowed.

    ``promoter_id`` is None while the promoter is being created (it cannot be anyone's ancestor
    yet). ``candidate_ancestor_ids`` is the candidate's inviter, that inviter's inviter, and so on.
    The checks run in the order a person would want them explained.
    """
    if promoter_id is not None and candidate_inviter_id == promoter_id:
        return BindingRefusal.SELF_BINDING
    if current_inviter_id is not None and current_inviter_id == candidate_inviter_id:
        return BindingRefusal.ALREADY_BOUND_TO_INVITER
    if not candidate_is_active:
        return BindingRefusal.INVITER_FROZEN
    if mode == BindingMode.NEW_USERS_ONLY and not is_new:
        return BindingRefusal.NOT_NEW
    if mode in (BindingMode.FIRST_BIND_WINS, BindingMode.NEW_USERS_ONLY) and (
        current_inviter_id is not None
    ):
        return BindingRefusal.ALREADY_BOUND
    if promoter_id is not None and promoter_id in candidate_ancestor_ids:
        return BindingRefusal.CYCLE
    return None


def ancestor_chain(
    inviter_of: Mapping[int, int | None], promoter_id: int, limit: int = MAX_CHAIN_LENGTH
) -> list[int]:
    """The inviter of ``promoter_id``, its inviter, ... nearest first (the promoter excluded).

    Stops at a repeat, so even a corrupt cyclic mapping terminates.
    """
    chain: list[int] = []
    seen = {promoter_id}
    current = inviter_of.get(promoter_id)
    while current is not None and current not in seen and len(chain) < limit:
        chain.append(current)
        seen.add(current)
        current = inviter_of.get(current)
    return chain


@dataclass(frozen=True)
class GradeRule:
    grade_id: int
    level: int
    min_direct_recruits: int
    min_team_size: int
    min_gmv_fen: int


@dataclass(frozen=True)
class TeamStats:
    direct_recruits: int
    team_size: int
    """L1 + L2 promoters."""
    gmv_fen: int
    """Attributed GMV in fen."""


def meets(rule: GradeRule, stats: TeamStats) -> bool:
    return (
        stats.direct_recruits >= rule.min_direct_recruits
        and stats.team_size >= rule.min_team_size
        and stats.gmv_fen >= rule.min_gmv_fen
    )


def grade_upgrade(
    current_level: int, rules: Sequence[GradeRule], stats: TeamStats
) -> GradeRule | None:
    """The highest grade above ``current_level`` whose conditions ``stats`` meet, else None.

    Upgrades only: a promoter whose team shrank keeps its grade (downgrades are a person's call).
    """
    qualifying = [rule for rule in rules if rule.level > current_level and meets(rule, stats)]
    if not qualifying:
        return None
    return max(qualifying, key=lambda rule: rule.level)
