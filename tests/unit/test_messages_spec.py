"""specs/messages.md is the contract: every topic, field and type there matches pyrt.messages."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import attrs
import pytest

from pyrt import messages

SPEC = Path(__file__).resolve().parents[2] / "specs" / "messages.md"


def parse_spec() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Return topic -> (class name, [(field, type)]) from the markdown tables."""
    out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    topic = cls = None
    for line in SPEC.read_text().splitlines():
        heading = re.match(r"^## (\S+) — `(\w+)`$", line)
        if heading:
            topic, cls = heading.groups()
            out[topic] = (cls, [])
            continue
        row = re.match(r"^\| (\w+) \| (.+) \|$", line)
        if row and topic and row.group(1) != "field":
            out[topic][1].append((row.group(1), row.group(2).replace("\\|", "|").strip()))
    return out


def type_name(tp: object) -> str:
    if tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return f"tuple[{type_name(args[0])}, ...]"
    return getattr(tp, "__name__", str(tp))


SPECS = parse_spec()


def test_spec_lists_exactly_the_message_topics() -> None:
    assert set(SPECS) == set(messages.TOPICS)
    assert len(SPECS) == 17


@pytest.mark.parametrize("topic", sorted(SPECS))
def test_message_class_matches_spec(topic: str) -> None:
    cls_name, fields = SPECS[topic]
    cls = messages.TOPICS[topic]
    hints = typing.get_type_hints(cls)

    actual = [(f.name, type_name(hints[f.name])) for f in attrs.fields(cls)]

    assert cls.__name__ == cls_name
    assert topic == cls.TOPIC
    assert actual == fields


def test_every_message_class_is_frozen_and_exported() -> None:
    for cls in messages.MESSAGE_TYPES:
        assert attrs.has(cls)
        assert cls.__setattr__ is not object.__setattr__  # frozen
        assert cls.__name__ in messages.__all__
    assert len(messages.__all__) == len(set(messages.__all__))


def test_control_command_refuses_unknown_commands_and_blank_reasons() -> None:
    ok = messages.ControlCommand(command="halt", reason="r", source="execution", ts_event=1, ts_init=1)
    assert ok.automatic
    assert not attrs.evolve(ok, source=messages.OPERATOR).automatic
    assert messages.decode(messages.encode(ok)) == ok
    with pytest.raises(ValueError, match="command must be one of"):
        attrs.evolve(ok, command="status")
    with pytest.raises(ValueError, match="reason must not be blank"):
        attrs.evolve(ok, reason="  ")
