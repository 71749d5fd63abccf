"""State attempt limits: how many calls a number may get in a rolling window.

THE TABLE (`LIMITS`) is the one place an operator changes the rules, like `calling_hours.WINDOWS`.
Keys are two-letter state codes; values are `(max attempts, window in seconds)`. A limit holds
per phone number across all of an org's leads for it, for every lead located in that state (the
same location as calling hours: the lead's `state`, else its area code). A state here must also
have a calling-hours rule, because a lead's applicable rules (`leads.calling_rules`) are what
both checks read.

The claim query evaluates the same table in SQL (`sql_params` flattens it into arrays), and
`hold_until` computes, from the same numbers, when a number at its limit is next allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from lead2inbound.dialing.calling_hours import WINDOWS

DAY = 24 * 3600

# state -> (max attempts per number, rolling window in seconds).
LIMITS: dict[str, tuple[int, int]] = {
    "FL": (3, DAY),  # Fla. Stat. 501.616(6)(b) (Telephone Solicitation Act, as amended 2021)
    "OK": (3, DAY),  # 15 Okla. Stat. 775C.4(B)(3) (Telephone Solicitation Act of 2022)
    "MD": (3, DAY),  # Md. Com. Law 14-4503(b)(3) (Stop the Spam Calls Act of 2023)
}

for _state in LIMITS:  # a limit without a calling-hours rule would never apply (see above)
    assert _state in WINDOWS, f"attempt limit for {_state} needs a calling_hours.WINDOWS entry"


def applicable(rules: Iterable[str] | None) -> list[tuple[int, int]]:
    """The (max, window) limits that apply to a lead with these calling-hours rules."""
    return [LIMITS[r] for r in rules or () if r in LIMITS]


def hold_until(
    ats: Sequence[datetime], limits: Iterable[tuple[int, int]], now: datetime
) -> datetime | None:
    """When the number may next be called, given its attempt times; None if it may be now.

    With the attempts inside the window sorted a_1..a_k and k >= max, the count falls below
    max once a_(k-max+1) leaves the window: at a_(k-max+1) + window (an attempt at exactly
    `now - window` no longer counts)."""
    hold: datetime | None = None
    for max_n, window_s in limits:
        window = timedelta(seconds=window_s)
        recent = sorted(a for a in ats if a > now - window)
        if len(recent) >= max_n:
            until = recent[len(recent) - max_n] + window
            hold = until if hold is None else max(hold, until)
    return hold


def sql_params() -> tuple[list[str], list[int], list[int]]:
    """The table flattened for the claim query: (state, max, window s) arrays."""
    states = list(LIMITS)
    return states, [LIMITS[s][0] for s in states], [LIMITS[s][1] for s in states]
