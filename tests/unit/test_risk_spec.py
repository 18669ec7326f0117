"""specs/risk.md is the contract: every invariant has a named property test, every code is real."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pyrt.risk import limits as risk

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "specs" / "risk.md"
PROPERTY_TESTS = REPO / "tests" / "property" / "test_risk_invariants.py"

_HEADING = re.compile(r"^#{2,4} (R\d+) — \S")
_TEST_ID = re.compile(r"^test_(R\d+)_")
_CODE_ROW = re.compile(r"^\| (\d+) \| `([A-Z_]+)` \|")


def spec_ids() -> list[str]:
    return [m[1] for line in SPEC.read_text().splitlines() if (m := _HEADING.match(line))]


def property_test_names() -> list[str]:
    tree = ast.parse(PROPERTY_TESTS.read_text())
    return [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def test_spec_numbers_invariants_once_and_in_order():
    ids = spec_ids()

    assert ids, "specs/risk.md has no '### R<n> — ...' headings"
    assert ids == [f"R{n}" for n in range(1, len(ids) + 1)]


def test_every_invariant_has_a_property_test_named_after_it():
    names = property_test_names()

    missing = [i for i in spec_ids() if not any(name.startswith(f"test_{i}_") for name in names)]

    assert missing == [], f"invariants without a test_<id>_... in {PROPERTY_TESTS.name}: {missing}"


def test_every_property_test_names_an_invariant_in_the_spec():
    ids = set(spec_ids())
    names = property_test_names()

    unnamed = [name for name in names if not _TEST_ID.match(name)]
    unknown = [name for name in names if (m := _TEST_ID.match(name)) and m[1] not in ids]

    assert unnamed == [], f"tests in {PROPERTY_TESTS.name} must start with test_R<n>_: {unnamed}"
    assert unknown == [], f"tests naming an invariant that specs/risk.md does not have: {unknown}"


def test_reason_code_table_is_the_engine_check_order():
    rows = [m.groups() for line in SPEC.read_text().splitlines() if (m := _CODE_ROW.match(line))]

    assert [int(order) for order, _ in rows] == list(range(1, len(rows) + 1))
    assert tuple(code for _, code in rows) == risk.REASON_CODES
    assert all(getattr(risk, code) == code for code in risk.REASON_CODES)
