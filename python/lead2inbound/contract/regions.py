"""US states and territories and Canadian provinces and territories: their two-letter codes
(USPS, Canada Post) and full names, so a lead's `state` given as "Texas", "texas" or "tx" is
stored as `TX` everywhere (docs/api.md, "state")."""

from __future__ import annotations

import re

NAMES: dict[str, str] = {
    # US states, DC and territories (USPS)
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands", "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands", "UM": "United States Minor Outlying Islands",
    # Canadian provinces and territories (Canada Post)
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories",
    "NU": "Nunavut", "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec",
    "SK": "Saskatchewan", "YT": "Yukon",
}  # fmt: skip
CODES = frozenset(NAMES)
# Other spellings vendors send for the same places.
_ALIASES = {
    "washington dc": "DC", "washington d.c.": "DC", "d.c.": "DC",
    "virgin islands": "VI", "us virgin islands": "VI", "united states virgin islands": "VI",
    "commonwealth of the northern mariana islands": "MP", "québec": "QC", "yukon territory": "YT",
    "newfoundland": "NL",
}  # fmt: skip
_BY_NAME = {
    **{name.lower(): code for code, name in NAMES.items()},
    **_ALIASES,
}
_SPACES = re.compile(r"\s+")
LONGEST = max(len(n) for n in _BY_NAME)


def state_code(value: str) -> str | None:
    """The two-letter code of a state, territory or province given by its code or its full name,
    in any case and spacing; None when it is neither."""
    text = _SPACES.sub(" ", value.strip())
    if text.upper() in CODES:
        return text.upper()
    return _BY_NAME.get(text.lower())
