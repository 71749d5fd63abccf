"""DNC providers (issue 5): adapters, the encrypted store of connections, gate 4, re-scrubbing.

See docs/dnc.md.
"""

from .gate import DncService
from .providers import DncProvider, ProviderUnavailable, ScrubResult
from .rescrub import Rescrubber, rescrub_due

__all__ = [
    "DncProvider",
    "DncService",
    "ProviderUnavailable",
    "Rescrubber",
    "ScrubResult",
    "rescrub_due",
]
