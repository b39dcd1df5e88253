"""Imports run one way: the package's floors (DESIGN.md's layout), checked on the source.

A module may import from its own top-level package and from any lower floor, never from a
floor above its own and never sideways within a floor, so the graph has no upward arrow
and no cycle. CI runs this file with the rest of the suite.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cacherr"

# Top to bottom: the flow of DESIGN.md (sources → reactor → claims/planner → executor →
# files; events out), one row a floor.
FLOORS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"demo", "plexcache_import"},
    {"app", "welcome"},
    {"wiring"},
    {"api", "realtime", "metrics"},
    {"keys"},
    {"reactor"},
    {"sources", "planner", "executor", "usage", "checks", "live", "activity"},
    {"claims", "files", "plex", "notify", "security"},
    {"db", "config", "lock"},
    {"events", "errors", "atomic", "tasks", "writelock", "dbgroup"},
    {"fakeplex"},
    {"__init__"},
]
FLOOR = {name: depth for depth, names in enumerate(FLOORS) for name in names}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[str, dict[str, list[str]]]:
    """Top-level package → imported top-level package → the files that import it."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        source = _top(".".join(rel.with_suffix("").parts))
        if rel.parts[-1] == "__init__.py" and len(rel.parts) == 2:
            source = "__init__"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "cacherr":
                    targets = [alias.name for alias in node.names]
                elif node.module.startswith("cacherr."):
                    targets = [_top(node.module)]
            elif isinstance(node, ast.Import):
                targets = [_top(a.name) for a in node.names if a.name.startswith("cacherr.")]
            for target in targets:
                name = "__init__" if target == "__version__" else target
                if name != source:
                    edges[source][name].append(str(rel))
    return edges


def test_every_top_level_module_has_a_floor() -> None:
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    names = {n for n in names if not n.startswith((".", "_")) or n in {"__main__", "__init__"}}
    names.discard("web")
    missing = sorted(n for n in names if n not in FLOOR and (PACKAGE / n).suffix != ".pyc")
    assert missing == [], f"add these to a floor in FLOORS: {missing}"


def test_imports_only_go_down() -> None:
    upward = [
        f"{', '.join(sorted(set(files)))}: {source} imports {target}"
        for source, targets in _imports().items()
        for target, files in targets.items()
        if FLOOR[target] <= FLOOR[source]
    ]
    assert upward == [], "imports that go up or sideways:\n" + "\n".join(upward)
