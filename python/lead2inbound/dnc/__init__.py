"""DNC providers (issue 5): adapters, the encrypted store of connections, gate 4, re-scrubbing.

See docs/dnc.md.
"""

from lead2inbound.dnc.gate import DncService
from lead2inbound.dnc.providers import DncProvider, ProviderUnavailable, ScrubResult
from lead2inbound.dnc.rescrub import Rescrubber, rescrub_due

__all__ = [
    "DncProvider",
    "DncService",
    "ProviderUnavailable",
    "Rescrubber",
    "ScrubResult",
    "rescrub_due",
]
