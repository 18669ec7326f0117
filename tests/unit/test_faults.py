"""The fault model: profiles from JSON, swarm draws, schedules and their JSON, the timeline."""

from __future__ import annotations

import json
import random

import pytest

from pyrt.errors import ConfigError
from pyrt.faults import PROFILES_DIR, FaultEvent, FaultKind, FaultProfile, FaultSchedule, FaultTimeline


@pytest.mark.parametrize("name", ["none", "default", "harsh"])
def test_shipped_profiles_load_and_their_schedules_round_trip(name):
    profile = FaultProfile.named(name)
    schedule = profile.schedule(random.Random(7), 6.5 * 3600)

    assert profile.name == name
    assert FaultSchedule.from_json(schedule.to_json()) == schedule
    assert [e.at for e in schedule.events] == sorted(e.at for e in schedule.events)
    assert (len(schedule) == 0) == (name == "none")


def test_every_kind_is_in_the_default_and_harsh_profiles():
    for name in ("default", "harsh"):
        assert set(FaultProfile.named(name).enabled) == set(FaultKind), name
    assert sorted(p.stem for p in PROFILES_DIR.glob("*.json")) == ["default", "harsh", "none"]


def test_harsh_is_harsher_than_default_for_every_kind():
    default, harsh = FaultProfile.named("default"), FaultProfile.named("harsh")

    assert all(harsh.rate(kind) >= default.rate(kind) for kind in FaultKind)
    assert harsh.faults[FaultKind.VENUE_RESTART].params["new_account"] > 0.0


def test_a_profile_reports_every_bad_key_and_value_with_its_path():
    text = json.dumps(
        {
            "faults": {
                "md_stal": {"rate_per_hour": 1},
                "md_stall": {"rate_per_hour": -1, "secs": 3},
                "server_error_burst": {"rate_per_hour": 1, "status": 404},
                "venue_restart": {"rate_per_hour": 1, "new_account": 2},
            },
            "colour": "red",
        }
    )

    with pytest.raises(ConfigError) as info:
        FaultProfile.from_json(text, source="my.json")

    assert info.value.source == "my.json"
    assert info.value.errors == (
        "$.colour: unknown key; expected one of: name, description, faults",
        "$.faults.md_stal: unknown key (did you mean 'md_stall'?); expected one of: "
        + ", ".join(kind.value for kind in FaultKind),
        "$.faults.md_stall.rate_per_hour: must be a finite number >= 0, was -1",
        "$.faults.md_stall.secs: unknown key (did you mean 'seconds'?); expected one of: rate_per_hour, seconds",
        "$.faults.server_error_burst.status: must be an HTTP 5xx status (500-599), was 404",
        "$.faults.venue_restart.new_account: must be in [0, 1], was 2",
    )


def test_a_profile_file_that_is_missing_or_not_json_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")

    with pytest.raises(ConfigError, match="not valid JSON"):
        FaultProfile.named(str(bad))
    with pytest.raises(ConfigError, match="cannot read"):
        FaultProfile.named(str(tmp_path / "absent.json"))
    with pytest.raises(ConfigError, match=r"unknown fault profile 'harshest'; expected one of \['default'"):
        FaultProfile.named("harshest")


def test_a_users_profile_file_takes_its_name_from_the_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"faults": {"md_disconnect": {"rate_per_hour": 3}}}))

    profile = FaultProfile.named(str(path))

    assert (profile.name, profile.enabled, profile.rate(FaultKind.MD_DISCONNECT)) == (
        "mine",
        (FaultKind.MD_DISCONNECT,),
        3.0,
    )
    assert FaultProfile.from_dict(profile.to_dict()) == profile


def test_the_schedule_follows_the_rates_and_the_seed():
    profile = FaultProfile.from_dict({"faults": {"md_disconnect": {"rate_per_hour": 60}}})

    first = profile.schedule(random.Random(1), 10 * 3600)

    assert first == profile.schedule(random.Random(1), 10 * 3600)
    assert first != profile.schedule(random.Random(2), 10 * 3600)
    assert 500 < len(first) < 700  # 600 expected
    assert all(0 <= e.at < 36000 for e in first.events)


def test_turning_a_kind_off_leaves_the_other_kinds_events_in_place():
    both = FaultProfile.from_dict(
        {"faults": {"md_disconnect": {"rate_per_hour": 10}, "bad_data": {"rate_per_hour": 10}}}
    )
    one = FaultProfile.from_dict({"faults": {"bad_data": {"rate_per_hour": 10}}})

    drawn = both.schedule(random.Random(3), 3600)

    assert one.schedule(random.Random(3), 3600).events == drawn.of_kind(FaultKind.BAD_DATA)


def test_scheduled_events_carry_drawn_parameters():
    profile = FaultProfile.named("harsh")
    schedule = profile.schedule(random.Random(11), 20 * 3600)

    stalls = schedule.of_kind(FaultKind.MD_STALL)
    restarts = schedule.of_kind(FaultKind.VENUE_RESTART)
    raises = schedule.of_kind(FaultKind.ACTOR_RAISE)
    bad = schedule.of_kind(FaultKind.BAD_DATA)

    assert all(15.0 <= (e.seconds or 0) <= 45.0 for e in stalls)  # 30 s, 50-150 %
    assert {e.params["new_account"] for e in restarts} == {True, False}
    assert {e.params["target"] for e in raises} <= {"market_data", "signal", "risk", "execution", "store"}
    assert len({e.params["variant"] for e in bad}) == 6


def test_swarm_draws_give_each_seed_its_own_mix_within_the_profile():
    profile = FaultProfile.named("default")

    draws = [profile.draw(random.Random(seed)) for seed in range(40)]

    assert draws[0] == profile.draw(random.Random(0))
    assert len({draw.enabled for draw in draws}) > 30
    for draw in draws:
        assert 0 < len(draw.enabled) < len(FaultKind)
        assert all(draw.rate(kind) <= profile.rate(kind) for kind in FaultKind)


def test_schedule_json_format_and_shrinking_helpers():
    schedule = FaultSchedule(
        events=[
            FaultEvent(at=5.0, kind="md_stall", seconds=12.5),
            FaultEvent(at=1.5, kind="server_error_burst", seconds=3.0, params={"status": 502}),
            FaultEvent(at=9.0, kind="ambiguous_timeout", count=1, probability=0.5),
        ],
        duration=10.0,
    )

    assert json.loads(schedule.to_json()) == {
        "duration": 10.0,
        "events": [
            {"at": 1.5, "kind": "server_error_burst", "seconds": 3.0, "status": 502},
            {"at": 5.0, "kind": "md_stall", "seconds": 12.5},
            {"at": 9.0, "kind": "ambiguous_timeout", "count": 1, "probability": 0.5},
        ],
    }
    assert [e.kind for e in schedule.without(0).events] == [FaultKind.MD_STALL, FaultKind.AMBIGUOUS_TIMEOUT]
    assert schedule.until(6.0).counts() == {"md_stall": 1, "server_error_burst": 1}
    assert len(schedule.filter(lambda e: e.kind is FaultKind.MD_STALL)) == 1


def test_a_bad_schedule_names_every_bad_event():
    text = json.dumps(
        {
            "duration": 10,
            "events": [
                {"at": 1, "kind": "md_stall", "seconds": 2},
                {"at": -1, "kind": "md_stall"},
                {"kind": "md_stall"},
                {"at": 1, "kind": "meteor"},
                {"at": 1, "kind": "bad_data", "variant": "purple"},
                {"at": 1, "kind": "md_stall", "status": 503},
            ],
        }
    )

    with pytest.raises(ConfigError) as info:
        FaultSchedule.from_json(text, source="s.json")

    assert [error.split(":")[0] for error in info.value.errors] == [f"$.events[{i}]" for i in range(1, 6)]
    assert "at must be a finite number of seconds >= 0, was -1.0" in info.value.errors[0]
    assert "unknown kind 'meteor'" in info.value.errors[2]
    assert "md_stall takes no parameter 'status'" in info.value.errors[4]


def test_timeline_instants_are_due_once_and_episodes_hit_in_their_window():
    timeline = FaultTimeline(
        [
            FaultEvent(at=2.0, kind="md_disconnect"),
            FaultEvent(at=1.0, kind="server_error_burst", seconds=2.0),
            FaultEvent(at=5.0, kind="request_timeout", count=2),
        ],
        rng=random.Random(0),
    )

    assert timeline.due(FaultKind.MD_DISCONNECT, 1.9) == []
    assert [e.at for e in timeline.due(FaultKind.MD_DISCONNECT, 2.0)] == [2.0]
    assert timeline.due(FaultKind.MD_DISCONNECT, 100.0) == []
    assert timeline.take(FaultKind.SERVER_ERROR_BURST, 0.5) is None
    assert timeline.take(FaultKind.SERVER_ERROR_BURST, 1.0) is not None
    assert timeline.active(FaultKind.SERVER_ERROR_BURST, 2.9) is not None
    assert timeline.take(FaultKind.SERVER_ERROR_BURST, 3.0) is None
    kinds = (FaultKind.SERVER_ERROR_BURST, FaultKind.REQUEST_TIMEOUT)
    assert [timeline.take(kinds, 6.0) is not None for _ in range(3)] == [True, True, False]


def test_timeline_competing_kinds_share_one_draw_and_scopes_filter():
    events = [
        FaultEvent(at=0.0, kind="server_error_burst", probability=0.3, params={"scope": "submit"}),
        FaultEvent(at=0.0, kind="rate_limit_storm", probability=0.3, params={"scope": "submit"}),
    ]
    timeline = FaultTimeline(events, rng=random.Random(4))
    kinds = (FaultKind.SERVER_ERROR_BURST, FaultKind.RATE_LIMIT_STORM)

    hits = [timeline.take(kinds, 1.0, scope="submit") for _ in range(1000)]

    assert timeline.take(kinds, 1.0, scope="other") is None
    names = [hit.kind for hit in hits if hit is not None]
    assert 250 < names.count(FaultKind.SERVER_ERROR_BURST) < 350
    assert 250 < names.count(FaultKind.RATE_LIMIT_STORM) < 350
