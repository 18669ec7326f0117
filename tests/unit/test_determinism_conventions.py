"""Time, randomness, ordering and threads only through their seams (design.md: Time and randomness).

Same seed, same code, same config → a byte-identical journal, in another process too (issue 10).
Four things break that, and this test reads every module of ``pyrt/`` (its AST, so docstrings
and comments never match) for each:

- **wall-clock reads**: ``time.time``/``monotonic``/``perf_counter`` (and their ``_ns`` twins),
  ``datetime.now``/``utcnow``/``today``, ``date.today``, and ``trio.current_time`` / ``trio.sleep``
  / ``trio.sleep_until`` (trio's clock is the run's monotonic clock: virtual under MockClock, but
  it belongs behind :class:`pyrt.runtime.clock.Clock` so a mode decides what time is);
- **global randomness**: every ``random.<function>`` (only ``random.Random(seed)`` is allowed),
  ``uuid.uuid1``/``uuid4``, ``os.urandom``/``getrandom``, anything of ``secrets``, numpy's
  global RNG (``numpy.random.<function>``, and ``default_rng()`` with no seed);
- **unordered iteration**: iterating a ``set``/``frozenset`` lets the hash seed (random per
  process for ``str``) decide an order that may reach a message, a log or the journal. The
  heuristic: an expression is a *set* when it is a set display or comprehension, a
  ``set(...)``/``frozenset(...)`` call, a set operator (``| & - ^``) with a set or a
  ``.keys()``/``.items()`` view on one side, a ``.union``/``.intersection``/``.difference``/
  ``.symmetric_difference`` call on a set, a name or parameter annotated ``set[...]``/
  ``frozenset[...]``/``AbstractSet``/``MutableSet`` or assigned a set in the same function or
  module, or a ``self.<attr>`` annotated or assigned a set anywhere in its class. Iterating one is
  flagged in a ``for`` loop, a list/dict comprehension or generator, and in ``list``, ``tuple``,
  ``iter``, ``next``, ``enumerate``, ``zip``, ``map``, ``filter``, ``reversed`` and
  ``str.join``. Not flagged: a set comprehension (its result is a set again), and a generator or
  set handed straight to an order-blind consumer (``sorted``, ``min``, ``max``, ``any``,
  ``all``, ``len``, ``set``, ``frozenset``). ``sum`` is *not* order-blind: float addition is
  not associative. The fix is ``sorted(...)``; the heuristic cannot see through calls, returns
  or containers of sets, so it is a net, not a proof;
- **threads**: ``threading.Thread``/``Timer``, ``trio.to_thread``, ``trio.from_thread``,
  ``concurrent.futures.ThreadPoolExecutor``, ``asyncio.to_thread``: a thread's timing is the
  OS's, not the seed's.

Every allowed use is listed in :data:`ALLOWED` with its reason; an entry nothing uses any more
fails the test too, so the list stays the truth.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs
import pytest

PYRT: Final = Path(__file__).resolve().parents[2] / "pyrt"

WALL_CLOCK: Final = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "time.process_time",
        "time.sleep",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "trio.current_time",
        "trio.sleep",
        "trio.sleep_until",
    }
)
RANDOM_OK: Final = frozenset({"random.Random"})
RANDOM_PREFIXES: Final = ("random.", "secrets.", "numpy.random.")
RANDOM_NAMES: Final = frozenset({"uuid.uuid1", "uuid.uuid4", "os.urandom", "os.getrandom"})
NUMPY_RANDOM_OK: Final = frozenset(
    {"numpy.random.Generator", "numpy.random.PCG64", "numpy.random.SeedSequence", "numpy.random.BitGenerator"}
)
# these read the clock only when called without a time: time.gmtime(seconds) is a conversion
NOW_WITHOUT_ARGUMENT: Final = frozenset({"time.gmtime", "time.localtime", "time.ctime"})
THREADS: Final = frozenset(
    {
        "threading.Thread",
        "threading.Timer",
        "concurrent.futures.ThreadPoolExecutor",
        "concurrent.futures.thread.ThreadPoolExecutor",
        "asyncio.to_thread",
        "asyncio.run_in_executor",
    }
)
THREAD_PREFIXES: Final = ("trio.to_thread.", "trio.from_thread.")
ORDER_BLIND: Final = frozenset({"sorted", "min", "max", "any", "all", "len", "set", "frozenset"})
ORDER_REVEALING: Final = frozenset(
    {"list", "tuple", "iter", "next", "enumerate", "zip", "map", "filter", "reversed"}
)
SET_TYPES: Final = frozenset(
    {"set", "frozenset", "Set", "FrozenSet", "AbstractSet", "MutableSet", "KeysView", "ItemsView"}
)
SET_METHODS: Final = frozenset({"union", "intersection", "difference", "symmetric_difference", "copy"})

#: (module path under pyrt/, rule, qualified name or set expression) → why it is allowed.
ALLOWED: Final[dict[tuple[str, str, str], str]] = {
    # -- the clock module: the seam itself
    ("runtime/clock.py", "wall clock", "time.time_ns"): "WallClock.now_ns is the live epoch",
    ("runtime/clock.py", "wall clock", "trio.current_time"): (
        "Clock.monotonic and VirtualClock's epoch read trio's clock: virtual under MockClock"
    ),
    ("runtime/clock.py", "wall clock", "trio.sleep"): "Clock.sleep is the one sleep",
    # -- the bus has no Clock (it is built before one and shared by every actor); these are
    # statistics (how long a publisher waited, how old an inbox's head is) on trio's clock,
    # the same clock Clock.monotonic reads, so virtual under MockClock and never journaled
    ("runtime/bus.py", "wall clock", "trio.current_time"): (
        "blocked-time and inbox-age statistics on trio's (mock) clock; never journaled"
    ),
    # -- threads
    ("persistence/actor.py", "thread", "trio.to_thread.run_sync"): (
        "the store actor's commit thread: SQLite I/O off the trio thread; it writes only what "
        "the tree decided, never feeds a decision back, and simulation runs with no store"
    ),
    ("persistence/recorder.py", "thread", "trio.to_thread.run_sync"): (
        "live-only fsync of the journal on a timer (sync_interval); a virtual-time tree passes "
        "sync_interval=None and syncs inline"
    ),
    # -- the live CLI paths: wall-clock accounts and credentials, never in a seeded run
    ("modes/live.py", "global randomness", "secrets.token_hex"): (
        "live mode: a fresh account id and key pair per `pyrt run`, on purpose unrepeatable"
    ),
    ("modes/live.py", "global randomness", "secrets.token_urlsafe"): (
        "live mode: the embedded venue's fresh secret key per `pyrt run`"
    ),
    ("venues/local/_server.py", "global randomness", "secrets.randbits"): (
        "unique_ids=True only (live `pyrt run`): ids that never repeat across runs; seeded otherwise"
    ),
    ("venues/local/_server.py", "global randomness", "uuid.uuid4"): (
        "unique_ids=True only (live `pyrt run`): a fresh account id; seeded otherwise"
    ),
    # -- the local venue's protocol deadlines: trio's clock, which a simulated network runs on
    # MockClock; the server takes a Clock for what it stamps, deadlines are trio's own
    ("venues/local/_datastream.py", "wall clock", "trio.current_time"): (
        "auth deadline of a market-data WebSocket on trio's (mock) clock"
    ),
    ("venues/local/_tradestream.py", "wall clock", "trio.current_time"): (
        "auth deadline of the trade_updates WebSocket on trio's (mock) clock"
    ),
}


@attrs.frozen
class Finding:
    path: str
    line: int
    rule: str
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.name}"


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _annotation_is_set(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return False
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # set[str] | None
        return _annotation_is_set(node.left) or _annotation_is_set(node.right)
    name = _dotted(node)
    return name is not None and name.rsplit(".", 1)[-1] in SET_TYPES


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.aliases: dict[str, str] = {}  # local name → the module path it stands for
        self.findings: list[Finding] = []
        self.scopes: list[set[str]] = [set()]  # names known to hold sets, innermost last
        self.class_sets: list[set[str]] = []  # self.<attr> known to hold sets, per class
        self.blind: set[int] = set()  # id() of nodes handed straight to an order-blind consumer

    def _add(self, node: ast.AST, rule: str, name: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), rule, name))

    # -- imports and names
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname is not None:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".", 1)[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module is None or node.level:
            return  # relative imports are pyrt's own modules
        for alias in node.names:
            qualified = f"{node.module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = qualified
            self._check_name(node, qualified)

    def _qualified(self, node: ast.expr) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head not in self.aliases:
            return None
        base = self.aliases[head]
        if base == "np" or base.startswith("np."):
            base = "numpy" + base[2:]
        return f"{base}.{rest}" if rest else base

    def _check_name(self, node: ast.AST, name: str) -> None:
        if name in WALL_CLOCK:
            self._add(node, "wall clock", name)
        elif name in THREADS or name.startswith(THREAD_PREFIXES):
            self._add(node, "thread", name)
        elif name in RANDOM_NAMES:
            self._add(node, "global randomness", name)
        elif name.startswith(RANDOM_PREFIXES) and name not in RANDOM_OK and name not in NUMPY_RANDOM_OK:
            if name == "numpy.random.default_rng":
                return  # checked at the call: default_rng() without a seed
            self._add(node, "global randomness", name)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self._qualified(node)
        if name is not None and isinstance(node.ctx, ast.Load):
            self._check_name(node, name)
            if name.count(".") >= 1:
                return  # don't report trio.to_thread *and* trio.to_thread.run_sync
        self.generic_visit(node)

    # -- sets
    def _is_set(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Set | ast.SetComp):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("set", "frozenset"):
                return True
            return isinstance(func, ast.Attribute) and func.attr in SET_METHODS and self._is_set(func.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr | ast.BitAnd | ast.Sub | ast.BitXor):
            return self._is_set_or_view(node.left) or self._is_set_or_view(node.right)
        if isinstance(node, ast.Name):
            return any(node.id in scope for scope in self.scopes)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            return bool(self.class_sets) and node.attr in self.class_sets[-1]
        return False

    def _is_set_or_view(self, node: ast.expr) -> bool:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("keys", "items")
        ):
            return True
        return self._is_set(node)

    def _render(self, node: ast.expr) -> str:
        return ast.unparse(node)

    def _check_iter(self, node: ast.AST, iterable: ast.expr) -> None:
        if self._is_set(iterable):
            self._add(node, "set iteration", self._render(iterable))

    def _collect_sets(self, body: list[ast.stmt], scope: set[str]) -> None:
        # names assigned or annotated as sets in this body (not nested functions or classes)
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            for sub in _walk_shallow(stmt):
                if isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name):
                    if _annotation_is_set(sub.annotation) or (
                        sub.value is not None and self._is_set(sub.value)
                    ):
                        scope.add(sub.target.id)
                elif isinstance(sub, ast.Assign) and self._is_set(sub.value):
                    for target in sub.targets:
                        if isinstance(target, ast.Name):
                            scope.add(target.id)

    def visit_Module(self, node: ast.Module) -> None:
        # imports first, so a name used above its import still resolves; then module-level sets
        for stmt in node.body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                self.visit(stmt)
        self._collect_sets(node.body, self.scopes[0])
        for stmt in node.body:
            if not isinstance(stmt, ast.Import | ast.ImportFrom):
                self.visit(stmt)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        attrs_: set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.AnnAssign):
                target = sub.target
                is_set = _annotation_is_set(sub.annotation) or (
                    sub.value is not None and self._is_set(sub.value)
                )
                if isinstance(target, ast.Attribute) and _dotted(target.value) == "self" and is_set:
                    attrs_.add(target.attr)
                elif isinstance(target, ast.Name) and sub in node.body and is_set:
                    attrs_.add(target.id)  # a class-level (attrs) field
            elif isinstance(sub, ast.Assign) and self._is_set(sub.value):
                for t in sub.targets:
                    if isinstance(t, ast.Attribute) and _dotted(t.value) == "self":
                        attrs_.add(t.attr)
        self.class_sets.append(attrs_)
        self.generic_visit(node)
        self.class_sets.pop()

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        scope: set[str] = set()
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            if _annotation_is_set(arg.annotation):
                scope.add(arg.arg)
        self.scopes.append(scope)
        if not isinstance(node, ast.Lambda):
            self._collect_sets(node.body, scope)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function
    visit_Lambda = _visit_function

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self._check_iter(node, node.iter)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def _visit_comprehension(self, node: ast.ListComp | ast.DictComp | ast.GeneratorExp) -> None:
        if id(node) not in self.blind:
            for generator in node.generators:
                self._check_iter(node, generator.iter)
        self.generic_visit(node)

    visit_ListComp = _visit_comprehension
    visit_DictComp = _visit_comprehension
    visit_GeneratorExp = _visit_comprehension

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        if name in ORDER_BLIND:
            for arg in node.args:
                self.blind.add(id(arg))
        elif name in ORDER_REVEALING:
            for arg in node.args:
                self._check_iter(node, arg)
        elif isinstance(func, ast.Attribute) and func.attr == "join" and node.args:
            self._check_iter(node, node.args[0])
        qualified = self._qualified(func)
        if not node.args and not node.keywords:
            if qualified == "numpy.random.default_rng":
                self._add(node, "global randomness", "numpy.random.default_rng()")
            elif qualified in NOW_WITHOUT_ARGUMENT:
                self._add(node, "wall clock", f"{qualified}()")
        self.generic_visit(node)

    def visit_Starred(self, node: ast.Starred) -> None:
        self._check_iter(node, node.value)
        self.generic_visit(node)


def _walk_shallow(node: ast.AST) -> Iterator[ast.AST]:
    # ast.walk, but not into nested functions, lambdas or classes (their own scopes)
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            yield from _walk_shallow(child)


def scan(source: str, path: str = "<snippet>") -> list[Finding]:
    scanner = _Scanner(path)
    scanner.visit(ast.parse(source))
    return scanner.findings


def modules() -> list[Path]:
    return sorted(PYRT.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(PYRT).as_posix()


def _disallowed(path: Path) -> list[str]:
    rel = _rel(path)
    return [str(f) for f in scan(path.read_text(), rel) if (rel, f.rule, f.name) not in ALLOWED]


@pytest.mark.parametrize("path", modules(), ids=_rel)
def test_module_reads_time_randomness_order_and_threads_only_through_seams(path: Path) -> None:
    problems = _disallowed(path)

    assert problems == []


def test_every_allowed_use_is_still_used() -> None:
    used = {(f.path, f.rule, f.name) for path in modules() for f in scan(path.read_text(), _rel(path))}

    assert sorted(set(ALLOWED) - used) == []


# -- the scanner itself: what it must catch and what it must leave alone
CAUGHT: Final = {
    "time.time": "import time\ntime.time()",
    "monotonic imported": "from time import monotonic\nmonotonic()",
    "perf_counter passed": "import time as t\nf(clock=t.perf_counter)",
    "datetime.now": "import datetime as dt\ndt.datetime.now(dt.UTC)",
    "datetime class now": "from datetime import datetime\ndatetime.now()",
    "date.today": "import datetime\ndatetime.date.today()",
    "trio.current_time": "import trio\ntrio.current_time()",
    "gmtime now": "import time\ntime.gmtime()",
    "random.random": "import random\nrandom.random()",
    "random.shuffle": "import random\nrandom.shuffle(xs)",
    "from random": "from random import choice\nchoice(xs)",
    "uuid4": "import uuid\nuuid.uuid4()",
    "urandom": "import os\nos.urandom(8)",
    "secrets": "import secrets\nsecrets.token_hex(4)",
    "numpy global": "import numpy as np\nnp.random.normal()",
    "numpy unseeded": "import numpy as np\nnp.random.default_rng()",
    "thread": "import threading\nthreading.Thread(target=f)",
    "to_thread": "import trio\nasync def f():\n    await trio.to_thread.run_sync(g)",
    "executor": "from concurrent.futures import ThreadPoolExecutor\nThreadPoolExecutor()",
    "for over set call": "for x in set(xs):\n    out.append(x)",
    "for over set op": "for x in a.keys() - b:\n    out.append(x)",
    "list of set local": "s = {1, 2}\nys = list(s)",
    "annotated param": "def f(s: frozenset[str]) -> list[str]:\n    return [x for x in s]",
    "annotated optional": "def f(s: set[str] | None) -> str:\n    return ','.join(s)",
    "self attribute": (
        "class C:\n    def __init__(self):\n        self.seen: set[str] = set()\n"
        "    def f(self):\n        for x in self.seen:\n            print(x)"
    ),
    "attrs field": "class C:\n    names: frozenset[str]\n    def f(self):\n        return tuple(self.names)",
    "sum over set": "s = set(xs)\ntotal = sum(x for x in s)",
    "starred": "s = set(xs)\nf(*s)",
}
LEFT_ALONE: Final = {
    "seeded rng": "import random\nrng = random.Random(7)\nrng.random()",
    "seeded numpy": "import numpy as np\nnp.random.default_rng(7)",
    "sorted set": "s = set(xs)\nfor x in sorted(s):\n    pass",
    "order blind": "s = set(xs)\nn = len(s)\nok = any(x > 1 for x in s)\nm = max(s)",
    "set comprehension": "s = set(xs)\nt = {x + 1 for x in s}",
    "membership": "s = set(xs)\nok = 3 in s",
    "dict": "d = {}\nfor k in d:\n    pass",
    "docstring": '"""time.time() and random.random() in prose"""',
    "other scope": "def f():\n    s = set()\ndef g(s):\n    for x in s:\n        pass",
    "gmtime of a time": "import time\ntime.gmtime(0)",
    "datetime math": "import datetime\ndatetime.datetime.combine(d, datetime.time())",
}


@pytest.mark.parametrize("source", CAUGHT.values(), ids=CAUGHT.keys())
def test_scanner_catches(source: str) -> None:
    findings = scan(textwrap.dedent(source))

    assert len(findings) >= 1


@pytest.mark.parametrize("source", LEFT_ALONE.values(), ids=LEFT_ALONE.keys())
def test_scanner_leaves_alone(source: str) -> None:
    findings = scan(textwrap.dedent(source))

    assert findings == []
