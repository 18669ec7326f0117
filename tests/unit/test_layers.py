"""The layer table of the README, enforced: every import in ``pyrt/`` points down, none in a circle.

Each room (a top-level package or module of ``pyrt``) has a layer. A module may import from its
own room and from rooms on lower layers only; two rooms on the same layer do not import each
other. The test reads every ``import`` of every module (including those inside functions and
under ``TYPE_CHECKING``), so an upward or circular dependency fails here with the module and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pyrt

PACKAGE = Path(pyrt.__file__).parent

# Bottom to top; the README's "Layout" section shows the same table.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_accounting", "_validators"),
    ("config", "messages", "faults"),
    ("runtime", "indicators"),
    ("venues",),
    ("marketdata",),
    ("risk", "execution"),
    ("strategy",),
    ("persistence",),
    ("control",),
    ("testing",),
    ("modes",),
    ("swarm",),
    ("cli", "__init__"),
    ("__main__",),
)
LAYER = {room: depth for depth, rooms in enumerate(LAYERS) for room in rooms}


def _module_name(path: Path) -> tuple[str, str]:
    """Return (dotted module name, dotted package that relative imports resolve against)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _room(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """Every pyrt module ``path`` (or ``source`` placed at ``path``) imports, with its line."""
    _, package = _module_name(path)
    found: list[tuple[int, str]] = []
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
                if not node.module:  # "from . import x": x may be a module of the package
                    found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
                    continue
                found.append((node.lineno, target))
            elif node.module and (node.module == "pyrt" or node.module.startswith("pyrt.")):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend(
                (node.lineno, alias.name)
                for alias in node.names
                if alias.name == "pyrt" or alias.name.startswith("pyrt.")
            )
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_room_has_a_layer() -> None:
    rooms = {_room(_module_name(path)[0]) for path in MODULES}
    assert rooms - set(LAYER) == set(), "add the new room to LAYERS here and in the README"


def _upward(path: Path, source: str | None = None) -> list[str]:
    me = _room(_module_name(path)[0])
    wrong = []
    for line, target in _imports(path, source):
        other = _room(target)
        if other != me and LAYER[other] >= LAYER[me]:
            wrong.append(f"{path.name}:{line} imports {target} (layer {LAYER[other]} >= {me}'s {LAYER[me]})")
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down_the_layer_table(path: Path) -> None:
    assert _upward(path) == []


def test_no_room_imports_another_in_a_circle() -> None:
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        me = _room(_module_name(path)[0])
        for _, target in _imports(path):
            if _room(target) != me:
                graph.setdefault(me, set()).add(_room(target))
    seen: set[str] = set()
    stack: list[str] = []

    def visit(room: str) -> None:
        if room in stack:
            raise AssertionError(f"circular imports: {' -> '.join([*stack[stack.index(room) :], room])}")
        if room in seen:
            return
        stack.append(room)
        for other in sorted(graph.get(room, ())):
            visit(other)
        stack.pop()
        seen.add(room)

    for room in sorted(graph):
        visit(room)


def test_the_layer_check_catches_upward_and_sideways_imports() -> None:
    """The checker itself: a runtime module importing risk, or risk importing execution, fails."""
    bus = PACKAGE / "runtime" / "bus.py"
    assert _upward(bus, "from ..risk import engine\n") == [
        "bus.py:1 imports pyrt.risk (layer 5 >= runtime's 2)"
    ]
    assert _upward(bus, "def f():\n    from pyrt.modes import tree\n") != []
    risk = PACKAGE / "risk" / "engine.py"
    assert _upward(risk, "from ..execution.orders import OrderTracker\n") != []
    assert _upward(risk, "from ..runtime.bus import Bus\nfrom .portfolio import Portfolio\n") == []
