"""`l2i dnc import`: FTC registry download files into the org's registry file."""

from __future__ import annotations

import gzip
import random
import zipfile

import pytest
from click.testing import CliRunner

from lead2inbound._core import Registry, RegistryError
from lead2inbound.cli import main
from lead2inbound.dnc.registry_import import import_files
from tests.support.stack import make_org


def numbers(rng, area_codes, n):
    return {
        ac * 10_000_000 + rng.randrange(2_000_000, 10_000_000)
        for ac in area_codes
        for _ in range(n)
    }


def test_import_full_lists_then_change_list(tmp_path, database_url):
    rng = random.Random(5)
    first = numbers(rng, [212, 512], 20_000)
    second = numbers(rng, [303], 20_000)
    # full lists in both published layouts: a zip of `AAA,NNNNNNN` files and a plain NNNNNNNNNN
    zpath = tmp_path / "full.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for ac in (212, 512):
            zf.writestr(
                f"{ac}.txt",
                "".join(
                    f"{n // 10**7},{n % 10**7:07d}\r\n" for n in sorted(first) if n // 10**7 == ac
                ),
            )
    plain = tmp_path / "303.txt"
    plain.write_text("\n".join(str(n) for n in second))  # no newline after the last line
    org = make_org(database_url)
    env = {"L2I_DATABASE_URL": database_url, "L2I_DNC_REGISTRY_DIR": str(tmp_path / "reg")}
    run = CliRunner().invoke(
        main, ["dnc", "import", str(zpath), str(plain), "--org", org.org_id], env=env
    )
    assert run.exit_code == 0, run.output
    assert "full list" in run.output
    path = tmp_path / "reg" / f"{org.org_id}.dnc"
    reg = Registry(str(path))
    assert len(reg) == len(first | second)
    assert all(reg.contains(f"+1{n}") for n in list(first)[:500] + list(second)[:500])

    # a change list (gzip): deletions applied, additions merged, the rest untouched
    deleted = set(rng.sample(sorted(first | second), 3_000))
    added = numbers(rng, [415], 1_000) - first - second
    change = tmp_path / "changes.txt.gz"
    with gzip.open(change, "wt") as f:
        f.writelines(f"{n // 10**7},{n % 10**7:07d},D,2026-07-01\n" for n in deleted)
        f.writelines(f"{n},A,2026-07-01\n" for n in added)
    res = import_files([change], path)
    assert res.change_list and res.deleted == 3_000 and res.added == len(added)
    expected = (first | second | added) - deleted
    reg = Registry(str(path))
    assert len(reg) == len(expected) == res.total
    assert not any(reg.contains(str(n)) for n in deleted)
    assert all(reg.contains(str(n)) for n in added)

    # a later full list for 512 replaces 512 only
    fresh512 = numbers(rng, [512], 100)
    full512 = tmp_path / "512.txt"
    full512.write_text("".join(f"{n}\n" for n in fresh512))
    import_files([full512], path)
    reg = Registry(str(path))
    in512 = {n for n in expected if n // 10**7 == 512}
    assert len(reg) == len(expected) - len(in512) + len(fresh512)


def test_a_bad_file_changes_nothing(tmp_path):
    path = tmp_path / "org.dnc"
    good = tmp_path / "good.txt"
    good.write_text("5125550100\n")
    import_files([good], path)
    bad = tmp_path / "bad.txt"
    bad.write_text("5125550101\nnot a number\n")
    with pytest.raises(RegistryError, match="line 2"):
        import_files([bad], path)
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("5125550101\n5125550100,D\n")
    with pytest.raises(RegistryError, match="mixes"):
        import_files([mixed], path)
    reg = Registry(str(path))
    assert len(reg) == 1 and reg.contains("+15125550100")
