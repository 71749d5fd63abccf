"""Legal calling hours: where a lead's consumer is, and when they may be called.

THE TABLE (`WINDOWS`) is the one place an operator changes the rules. Keys are `"US"` (the
federal rule, always applied) and two-letter state/province codes (applied on top of the federal
rule when the lead is in that state). Values map a day (`"mon"`..`"sun"`, or `"default"` for
every day not named) to a local `("HH:MM", "HH:MM")` window, start inclusive and end exclusive,
or to `None` when no call is allowed that day. Example: a state that bans Sunday calls would be
`"XX": {"default": ("08:00", "21:00"), "sun": None}`.

A lead is callable at a moment when, in EVERY candidate time zone of the lead, the local time is
inside the window of EVERY rule that applies to it (the federal one and its state's). When the
zone is ambiguous (a state or an area code spanning zones) this is the stricter reading.

Where a lead is comes from, in order: its `state` field (zones of that state); else the area
code of a NANP number (zones and, where the whole area code lies in one state, its state, from
the generated `area_codes.py`); else every US zone (the strictest reading of "somewhere in the
US").

The claim query evaluates the same table in SQL (`windows_sql_params` flattens it into arrays),
so Python and Postgres cannot disagree; `next_callable` computes `callable_at` for display.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from lead2inbound.dialing.area_codes import AREA_CODES

FEDERAL = "US"

# rule -> day -> (start, end) local time, or None for "no calls that day".
WINDOWS: dict[str, dict[str, tuple[str, str] | None]] = {
    FEDERAL: {"default": ("08:00", "21:00")},  # 47 CFR 64.1200(c)(1)
    "FL": {"default": ("08:00", "20:00")},  # Fla. Stat. 501.059(8)(a)
    "OK": {"default": ("08:00", "20:00")},  # 15 Okla. Stat. 775C.4
    "MD": {"default": ("08:00", "20:00")},  # Md. Com. Law 14-4503 (Stop the Spam Calls Act)
    "TX": {"default": ("09:00", "21:00"), "sun": ("12:00", "21:00")},  # Tex. Bus. & Com. 305.053
}

# State/province -> IANA zones it spans (every zone used anywhere in it: strict reading).
STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago",),
    "AK": ("America/Anchorage", "America/Adak"),
    "AZ": ("America/Phoenix", "America/Denver"),  # the Navajo Nation keeps DST
    "AR": ("America/Chicago",),
    "CA": ("America/Los_Angeles",),
    "CO": ("America/Denver",),
    "CT": ("America/New_York",),
    "DE": ("America/New_York",),
    "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"),
    "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",),
    "ID": ("America/Boise", "America/Los_Angeles"),
    "IL": ("America/Chicago",),
    "IN": ("America/Indiana/Indianapolis", "America/Chicago"),
    "IA": ("America/Chicago",),
    "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"),
    "LA": ("America/Chicago",),
    "ME": ("America/New_York",),
    "MD": ("America/New_York",),
    "MA": ("America/New_York",),
    "MI": ("America/Detroit", "America/Menominee"),
    "MN": ("America/Chicago",),
    "MS": ("America/Chicago",),
    "MO": ("America/Chicago",),
    "MT": ("America/Denver",),
    "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles", "America/Boise"),  # West Wendover keeps Mountain time
    "NH": ("America/New_York",),
    "NJ": ("America/New_York",),
    "NM": ("America/Denver",),
    "NY": ("America/New_York",),
    "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver"),
    "OH": ("America/New_York",),
    "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"),
    "PA": ("America/New_York",),
    "RI": ("America/New_York",),
    "SC": ("America/New_York",),
    "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"),
    "TX": ("America/Chicago", "America/Denver"),
    "UT": ("America/Denver",),
    "VT": ("America/New_York",),
    "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",),
    "WV": ("America/New_York",),
    "WI": ("America/Chicago",),
    "WY": ("America/Denver",),
    "PR": ("America/Puerto_Rico",),
    "VI": ("America/St_Thomas",),
    "GU": ("Pacific/Guam",),
    "AS": ("Pacific/Pago_Pago",),
    "MP": ("Pacific/Saipan",),
    "AB": ("America/Edmonton",),
    "BC": ("America/Vancouver", "America/Edmonton"),
    "MB": ("America/Winnipeg",),
    "NB": ("America/Moncton",),
    "NL": ("America/St_Johns", "America/Goose_Bay"),
    "NS": ("America/Halifax",),
    "NT": ("America/Yellowknife",),
    "NU": ("America/Iqaluit", "America/Winnipeg", "America/Edmonton"),
    "ON": ("America/Toronto", "America/Winnipeg"),
    "PE": ("America/Halifax",),
    "QC": ("America/Toronto", "America/Halifax"),
    "SK": ("America/Regina", "America/Edmonton"),
    "YT": ("America/Whitehorse",),
}

# Where nothing better is known: every zone of the 50 states.
ANY_US: tuple[str, ...] = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def locate(state: str | None, e164: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(candidate zones, rules that apply) for a lead: from its state, else its area code."""
    state = state.upper() if state else None
    if state and state in STATE_ZONES:
        zones = STATE_ZONES[state]
    else:
        zones, npa_state = _from_area_code(e164)
        state = state or npa_state
    rules = (FEDERAL, state) if state and state in WINDOWS and state != FEDERAL else (FEDERAL,)
    return zones, rules


def _from_area_code(e164: str) -> tuple[tuple[str, ...], str | None]:
    if e164.startswith("+1") and len(e164) == 12:
        hit = AREA_CODES.get(e164[2:5])
        if hit is not None:
            return hit
    return ANY_US, None


@cache
def _window(rule: str, day: int) -> tuple[time, time] | None:
    """The local (start, end) of `rule` on ISO weekday index `day` (0 = Monday)."""
    days = WINDOWS.get(rule)
    if days is None:
        return None
    spec = days.get(_DAYS[day], days.get("default"))
    if spec is None:
        return None
    return time.fromisoformat(spec[0]), time.fromisoformat(spec[1])


def is_callable(zones: Iterable[str], rules: Iterable[str], at: datetime) -> bool:
    """True when `at` (aware) is inside every rule's window in every zone."""
    rules = tuple(rules)
    for zone in zones:
        local = at.astimezone(ZoneInfo(zone))
        for rule in rules:
            win = _window(rule, local.weekday())
            if win is None:
                return False
            if not win[0] <= local.time().replace(tzinfo=None) < win[1]:
                return False
    return True


def next_callable(zones: Iterable[str], rules: Iterable[str], at: datetime) -> datetime | None:
    """The first moment at or after `at` when the lead may be called (None: not within 8 days).

    The set of callable moments is an intersection of intervals, so its first point at or after
    `at` is `at` itself or the opening of one of the windows: try those in order.
    """
    zones, rules = tuple(zones), tuple(rules)
    if is_callable(zones, rules, at):
        return at
    candidates = []
    for zone in zones:
        tz = ZoneInfo(zone)
        local = at.astimezone(tz)
        for offset in range(9):
            day = (local + timedelta(days=offset)).date()
            for rule in rules:
                win = _window(rule, day.weekday())
                if win is not None:
                    opening = datetime.combine(day, win[0], tzinfo=tz)
                    if opening > at:
                        candidates.append(opening)
    for moment in sorted(candidates):
        if is_callable(zones, rules, moment):
            return moment.astimezone(at.tzinfo)
    return None


def _seconds(hhmm: str) -> int:
    t = time.fromisoformat(hhmm)
    return t.hour * 3600 + t.minute * 60


def windows_sql_params() -> tuple[list[str], list[int], list[int], list[int]]:
    """The table flattened for the claim query: (rule, ISO day 1-7, start s, end s) arrays.

    A (rule, day) with no row means no calls that day."""
    rules: list[str] = []
    dows: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    for rule, days in WINDOWS.items():
        for i, name in enumerate(_DAYS):
            spec = days.get(name, days.get("default"))
            if spec is None:
                continue
            rules.append(rule)
            dows.append(i + 1)
            starts.append(_seconds(spec[0]))
            ends.append(_seconds(spec[1]))
    return rules, dows, starts, ends


def local_windows(
    zones: Iterable[str], rules: Iterable[str], at: datetime
) -> list[tuple[str, str, str, str | None]]:
    """For showing a lead (the console): per zone and rule, the local time at `at` and that
    day's window as "HH:MM-HH:MM" (None: no calling that day)."""
    out = []
    rules = tuple(rules)
    for zone in zones:
        local = at.astimezone(ZoneInfo(zone))
        for rule in rules:
            win = _window(rule, local.weekday())
            span = f"{win[0]:%H:%M}-{win[1]:%H:%M}" if win else None
            out.append((zone, rule, local.strftime("%a %Y-%m-%d %H:%M %Z"), span))
    return out


def callable_at_local(iso: str | None, zone: str) -> str:
    """A lead's `callable_at` (ISO) as a time in its own zone, for people."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")
