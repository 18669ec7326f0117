from __future__ import annotations

import pyrt
import pyrt.messages


def test_all_lists_exactly_the_public_names_sorted() -> None:
    public = sorted(
        name
        for name in vars(pyrt)
        if (not name.startswith("_") and name[0].isupper()) or name == "load_config"
    )
    modules = {
        "bus",
        "clock",
        "config",
        "errors",
        "journal",
        "strategy",
        "supervisor",
        "messages",
        "venues",
        "bars",
        "actors",
        "modes",
        "portfolio",
        "risk",
        "orders",
        "cli",
        "annotations",
    }

    assert pyrt.__all__ == sorted(pyrt.__all__)
    assert sorted(n for n in public if n not in modules) == pyrt.__all__


def test_messages_all_matches_its_public_names() -> None:
    public = {name for name in vars(pyrt.messages) if not name.startswith("_")}
    submodules = {"annotations", "control", "enums", "market", "system", "trading"}

    assert set(pyrt.messages.__all__) == public - submodules
