"""`l2i dnc import`: FTC registry download files (plain, .gz or .zip) into the org's registry
file. Parsing, sorting and writing happen in Rust (`_core.RegistryBuilder`); Python only streams
the bytes in 8 MiB chunks. An import takes an exclusive lock on `<file>.lock`, so two imports for
one org run one after the other instead of losing one's changes."""

from __future__ import annotations

import fcntl
import gzip
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lead2inbound._core import RegistryBuilder

CHUNK = 8 << 20


@dataclass(frozen=True, slots=True)
class ImportResult:
    total: int
    lines: int
    added: int
    deleted: int
    change_list: bool
    seconds: float


def _streams(path: Path) -> Iterator[IO[bytes]]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    with zf.open(info) as member:
                        yield member
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            yield f
    else:
        with open(path, "rb") as f:
            yield f


def import_files(paths: list[Path], out: Path, *, replace_all: bool = False) -> ImportResult:
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        builder = RegistryBuilder()
        for path in paths:
            for stream in _streams(path):
                while chunk := stream.read(CHUNK):
                    builder.feed(chunk)
                builder.end_file()
        total, lines, added, deleted, change = builder.build(
            str(out), str(out) if out.exists() else None, replace_all
        )
    return ImportResult(total, lines, added, deleted, change, time.perf_counter() - started)
