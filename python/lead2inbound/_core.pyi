"""Type stubs for the Rust extension `lead2inbound._core` (checked by `mypy.stubtest`)."""

from typing import final

__all__ = [
    "InvalidPhone",
    "ParsedKey",
    "PhoneNumber",
    "WindowedBloom",
    "__version__",
    "key_digest",
    "mint_key",
    "normalize",
    "normalize_many",
    "parse_key",
    "verify_key",
]

__version__: str
__all__ = [
    "InvalidPhone",
    "ParsedKey",
    "PhoneNumber",
    "Registry",
    "RegistryBuilder",
    "RegistryError",
    "WindowedBloom",
    "__version__",
    "key_digest",
    "mint_key",
    "normalize",
    "normalize_many",
    "parse_key",
    "verify_key",
]

# --- phone: E.164 normalization that agrees with Google's libphonenumber -------------------------

class InvalidPhone(ValueError):
    """The input is not a possible phone number (`reason` says why)."""

    # "not_a_number" | "invalid_country_code" | "too_short" | "too_long" | "invalid_length"
    reason: str

@final
class PhoneNumber:
    """A parsed phone number, as libphonenumber would see it."""

    @property
    def e164(self) -> str: ...
    @property
    def possible(self) -> bool: ...
    @property
    def valid(self) -> bool: ...
    @property
    def region(self) -> str | None: ...
    @property
    def country_code(self) -> int: ...
    @property
    def national_number(self) -> str: ...
    @property
    def extension(self) -> str | None: ...

def normalize(raw: str, default_region: str = "US") -> PhoneNumber:
    """Normalize `raw` to E.164; raises `InvalidPhone` when it is not a possible number."""

def normalize_many(raws: list[str], default_region: str = "US") -> list[PhoneNumber | InvalidPhone]:
    """Normalize many inputs without the interpreter lock; failures come back as values."""

# --- keys: API keys `l2i_[pk_]<env>_<key id>_<secret><crc32 base62>` -----------------------------

@final
class ParsedKey:
    @property
    def env(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def last4(self) -> str: ...
    @property
    def publishable(self) -> bool:
        """`l2i_pk_...`: a publishable form key."""

def mint_key(env: str, publishable: bool = False) -> tuple[str, str]:
    """A new key from the OS CSPRNG: `(full_key, key_id)`. `env` is "live" or "test";
    `publishable` mints an `l2i_pk_<env>_...` form key."""

def parse_key(presented: str) -> ParsedKey | None:
    """Format and checksum check with no store involved; `None` for anything malformed."""

def key_digest(pepper: bytes, presented: str) -> bytes:
    """HMAC-SHA256 of the whole key under the server-side pepper (32 bytes)."""

def verify_key(pepper: bytes, presented: str, digest: bytes) -> bool:
    """Constant-time check of `presented` against a stored digest."""

# --- bloom: time-windowed bloom filter used as a "definitely not present" hint --------------------

@final
class WindowedBloom:
    def __init__(
        self,
        capacity: int,
        fp_rate: float,
        window_seconds: float,
        generations: int = 4,
    ) -> None: ...
    def insert(self, key: str, now: float | None = None) -> None: ...
    def insert_many(self, keys: list[str], now: float | None = None) -> None: ...
    def contains(self, key: str, now: float | None = None) -> bool: ...
    def clear(self) -> None: ...
    @property
    def capacity(self) -> int: ...
    @property
    def fp_rate(self) -> float: ...
    @property
    def window_seconds(self) -> float: ...

# --- registry: the FTC National DNC Registry as a sorted, memory-mapped file of u64 numbers ------

class RegistryError(ValueError):
    """A download file or registry file could not be read or written."""

@final
class RegistryBuilder:
    """Collects an import's numbers from download files fed in chunks, then writes the file."""

    def __new__(cls) -> RegistryBuilder: ...
    def feed(self, chunk: bytes) -> None: ...
    def end_file(self) -> None: ...
    @property
    def lines(self) -> int: ...
    def build(
        self, out: str, base: str | None = None, replace_all: bool = False
    ) -> tuple[int, int, int, int, bool]:
        """Write `out` from `base` and the input: `(total, lines, added, deleted, change_list)`."""

@final
class Registry:
    """A registry file, memory-mapped read-only and binary searched."""

    def __new__(cls, path: str) -> Registry: ...
    def contains(self, number: str) -> bool: ...
    def __len__(self) -> int: ...
    @property
    def path(self) -> str: ...
