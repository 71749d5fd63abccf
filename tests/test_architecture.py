"""The package's layers hold: no import circle, no upward import, and the diagrams are current.

The layer contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` checks them (also
its own step in `make test`). Circles are found here over every import, lazy and TYPE_CHECKING
ones included, since a circle through either is still one a reader has to untangle.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import gen_architecture as arch  # noqa: E402


def test_layer_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_import_circle() -> None:
    found = arch.cycles(arch.edges(arch.graph()))
    assert found == [], f"import circles: {found}"


def test_the_circle_finder_finds_circles() -> None:
    deps = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert sorted(arch.cycles(deps)) == [["a", "b", "c"], ["d"]]
    assert arch.longest_chain({"a": {"b"}, "b": {"c"}, "c": set(), "x": {"c"}}) == ["a", "b", "c"]


def test_every_module_is_in_a_layer() -> None:
    layers = arch.contract_layers()
    for module in grimp.build_graph(arch.PACKAGE).modules:
        if module != arch.PACKAGE and not module.endswith("._core"):
            arch.layer_of(module, layers)  # raises for a module outside every layer


def test_the_lead_path_names_real_functions_in_their_layers() -> None:
    steps = arch.lead_path()
    assert [layer for layer, _, _ in steps][:2] == ["web", "web"]
    with pytest.raises(AttributeError):
        saved = arch.LEAD_PATH
        try:
            arch.LEAD_PATH = (("gone", "intake.writer:LeadWriter.no_such_method"),)
            arch.lead_path()
        finally:
            arch.LEAD_PATH = saved


def test_architecture_doc_is_current() -> None:
    current = arch.DOC.read_text()
    assert arch.render(current) == current, "run .venv/bin/python tools/gen_architecture.py"
