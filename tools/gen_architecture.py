"""Generate docs/architecture.md's two diagrams from the code: the layers and a lead's path.

    .venv/bin/python tools/gen_architecture.py          # rewrite the generated sections
    .venv/bin/python tools/gen_architecture.py --check  # exit 1 if they are stale

The layers come from the import-linter contract in pyproject.toml (the one `lint-imports`
enforces); the modules in each layer, the import count and the longest import chain come from
the package's real import graph (grimp, the library import-linter is built on). The lead's path
names real functions: `lead_path()` fails when one is renamed or moves to another layer.
tests/test_architecture.py fails when the file differs from what this writes.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = "lead2inbound"

# A POST /v1/leads, in order: (what happens, "module:qualname"). Each is checked to exist.
LEAD_PATH: tuple[tuple[str, str], ...] = (
    ("request id, header cap", "web.app:RequestContext.process_request"),
    ("the resource", "web.resources.leads:LeadsResource.on_post"),
    ("who is calling (key parsed and verified in Rust)", "web.services:Services.authenticate"),
    ("the key's record, cached per process", "access.auth:KeyRing.authenticate"),
    ("the body, bounded in size and time", "web.http:read_body"),
    ("decoded straight into a Struct (msgspec)", "intake.validation:parse_json_lead"),
    ("the phone (Rust), consent, the calling zones", "intake.pipeline:prepare"),
    ("the zones and rules of the state", "dialing.calling_hours:locate"),
    ("gate 4: the org's DNC provider, if connected", "dnc.gate:DncService.gate"),
    ("queued for the batched writer", "intake.writer:LeadWriter.write"),
    ("the batch's rate-limit charges, one round trip", "access.limits:RateLimiter.check_many"),
    ("one statement over arrays, then COMMIT", "store.queries:sql"),
    ("counted", "ops.metrics:Metrics.lead"),
    ("201 with the decision trace, after the commit", "web.http:send_json"),
)


def contract_layers() -> list[list[str]]:
    """The first layers contract of pyproject.toml: top first, siblings grouped."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = config["contracts"][0]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE)


def edges(g: grimp.ImportGraph) -> dict[str, set[str]]:
    return {m: set(g.find_modules_directly_imported_by(m)) for m in sorted(g.modules)}


def cycles(deps: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in deps.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in deps.get(v, ()):
                found.append(sorted(component))

    for v in deps:
        if v not in index:
            visit(v)
    return found


def longest_chain(deps: dict[str, set[str]]) -> list[str]:
    """The longest import chain (a imports b imports c ...); the graph must have no cycle.
    Among chains of one length, the first in name order: the same text on every run (sets
    iterate in a per-process order)."""
    best: dict[str, list[str]] = {}

    def chain(v: str) -> list[str]:
        if v not in best:
            tails = [chain(w) for w in sorted(deps.get(v, ())) if w != v]
            best[v] = [v, *max(tails, key=len, default=[])]
        return best[v]

    return max((chain(v) for v in sorted(deps)), key=len, default=[])


def short(module: str) -> str:
    return module.removeprefix(PACKAGE + ".")


def layer_of(module: str, layers: list[list[str]]) -> str:
    top = short(module).split(".")[0]
    for group in layers:
        if top in group:
            return top
    raise ValueError(f"{module} is in no layer of the contract")


def layers_section(g: grimp.ImportGraph) -> str:
    layers = contract_layers()
    deps = edges(g)
    members: dict[str, list[str]] = {}
    for module in sorted(g.modules):
        if module == PACKAGE or short(module) == "_core":
            continue
        top, _, rest = short(module).partition(".")
        inner = members.setdefault(top, [])
        name = rest.split(".")[0] + ("/" if "." in rest or g.find_children(module) else "")
        if (
            rest
            and not rest.startswith("__")
            and name.rstrip("/") not in {n.rstrip("/") for n in inner}
        ):
            inner.append(name)
    width = max(len(" | ".join(group)) for group in layers) + 2
    lines = ["```text", "top: may import every layer below it, never one above", ""]
    for i, group in enumerate(layers):
        label = " | ".join(group)
        parts = []
        for name in group:
            inner = members.get(name, [])
            parts.append(f"{name} ({', '.join(inner)})" if inner else name)
        text = "  |  ".join(parts)
        for row in textwrap.wrap(text, 96 - width, break_on_hyphens=False) or [""]:
            lines.append(f"{label:<{width}}{row}")
            label = ""
        if i < len(layers) - 1:
            lines.append(f"{'':<{width // 2}}v")
    lines.append("```")
    chain = longest_chain(deps)
    internal = sum(len(v) for v in deps.values())
    lines += [
        "",
        f"{len(deps)} modules, {internal} imports between them, no import circle; the longest "
        f"import chain is {len(chain)} modules: "
        + " -> ".join(f"`{short(m)}`" for m in chain)
        + ".",
    ]
    return "\n".join(lines)


def lead_path() -> list[tuple[str, str, str]]:
    """(layer, module:qualname, what) for each step, each checked to exist."""
    layers = contract_layers()
    steps = []
    for what, target in LEAD_PATH:
        module_name, _, qualname = target.partition(":")
        obj: object = importlib.import_module(f"{PACKAGE}.{module_name}")
        for attr in qualname.split("."):
            obj = getattr(obj, attr)  # AttributeError: the path names a function that is gone
        steps.append((layer_of(f"{PACKAGE}.{module_name}", layers), target, what))
    return steps


def lead_path_section() -> str:
    steps = lead_path()
    width = max(len(layer) for layer, _, _ in steps)
    lines = ["```text", "POST /v1/leads"]
    for layer, target, what in steps:
        lines.append(f"  {layer:<{width}}  {target:<46} {what}")
    lines.append("```")
    return "\n".join(lines)


def render(text: str) -> str:
    g = graph()
    for name, body in (("layers", layers_section(g)), ("lead-path", lead_path_section())):
        begin, end = f"<!-- generated:{name}:begin -->", f"<!-- generated:{name}:end -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise SystemExit(f"{DOC} has no {begin} marker")
        _, found, tail = rest.partition(end)
        if not found:
            raise SystemExit(f"{DOC} has no {end} marker")
        text = f"{head}{begin}\n{body}\n{end}{tail}"
    return text


def main() -> None:
    current = DOC.read_text()
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            raise SystemExit("docs/architecture.md is stale: run tools/gen_architecture.py")
        return
    DOC.write_text(fresh)


if __name__ == "__main__":
    main()
