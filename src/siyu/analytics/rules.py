"""Pure campaign-analytics arithmetic: ratios as exact fractions, K-factor, cost per contact.

Ratios are kept as (numerator, denominator) integers and only rounded for display (half up, to
two decimals), so a figure and the counts it came from always agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def defined(self) -> bool:
        return self.denominator > 0

    def hundredths(self) -> int | None:
        """The ratio × 100, rounded half up; None when the denominator is 0."""
        if self.denominator <= 0:
            return None
        return (200 * self.numerator + self.denominator) // (2 * self.denominator)

    def decimal(self) -> str | None:
        """'0.67' (two decimals, half up) or None when undefined."""
        value = self.hundredths()
        if value is None:
            return None
        whole, rest = divmod(value, 100)
        return f"{whole}.{rest:02d}"

    def percent(self) -> str:
        """'66.7%' (one decimal, half up), '—' when undefined."""
        if self.denominator <= 0:
            return "—"
        tenths = (2000 * self.numerator + self.denominator) // (2 * self.denominator)
        whole, rest = divmod(tenths, 10)
        return f"{whole}.{rest}%"


@dataclass(frozen=True)
class KFactor:
    """K = invites per participant × conversion of invites = verified referrals / participants.

    ``invites``: every referral row of the campaign (pending, verified, invalidated, rejected):
    each is a distinct new person who came through a participant's personal code.
    ``verified``: the referrals that count (status verified).
    """

    participants: int
    invites: int
    verified: int

    @property
    def invites_per_participant(self) -> Ratio:
        return Ratio(self.invites, self.participants)

    @property
    def invite_conversion(self) -> Ratio:
        return Ratio(self.verified, self.invites)

    @property
    def k(self) -> Ratio:
        return Ratio(self.verified, self.participants)


def cost_per_contact_fen(cost_fen: int, contacts: int) -> int | None:
    """Reward cost over newly added contacts, in 分 rounded half up; None without contacts."""
    if contacts <= 0:
        return None
    return (2 * cost_fen + contacts) // (2 * contacts)


def step_conversion(counts: list[int]) -> list[Ratio]:
    """Each funnel step over the step before it (the first over itself)."""
    ratios: list[Ratio] = []
    for index, count in enumerate(counts):
        previous = counts[index - 1] if index else count
        ratios.append(Ratio(count, previous))
    return ratios
