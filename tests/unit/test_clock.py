from __future__ import annotations

import random

import trio
import trio.testing

from pyrt.runtime.clock import RunDeadline, VirtualClock, WallClock, make_rng, seed_trio_scheduler


def test_trio_scheduler_rng_is_where_seed_trio_scheduler_expects_it() -> None:
    # canary: trio keeps its batch-shuffling RNG private; if it moves, simulation loses determinism
    import trio._core._run as run

    assert isinstance(run._r, random.Random)
    assert isinstance(run._ALLOW_DETERMINISTIC_SCHEDULING, bool)
    seed_trio_scheduler(1234)
    first = run._r.random()
    seed_trio_scheduler(1234)
    assert run._r.random() == first


def _scheduling_order(seed: int) -> list[int]:
    order: list[int] = []

    async def worker(i: int) -> None:
        for _ in range(3):
            await trio.lowlevel.checkpoint()
            order.append(i)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(worker, i)

    seed_trio_scheduler(seed)
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return order


def test_seeded_scheduler_gives_the_same_task_order_and_another_seed_a_different_one() -> None:
    assert _scheduling_order(5) == _scheduling_order(5)
    assert any(_scheduling_order(5) != _scheduling_order(s) for s in range(6, 12))


async def test_virtual_clock_starts_at_its_epoch_and_moves_with_trio_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(1_000_000_000)

    start = clock.now_ns()
    await clock.sleep(2.5)

    assert start == 1_000_000_000
    assert clock.now_ns() == 3_500_000_000


async def test_wall_clock_reads_epoch_nanoseconds_and_trio_monotonic(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = WallClock()

    before = clock.monotonic()
    await clock.sleep(3)

    assert clock.now_ns() > 1_600_000_000 * 10**9
    assert clock.monotonic() - before == 3


def test_make_rng_is_seeded() -> None:
    assert make_rng(3).random() == make_rng(3).random()


async def test_run_deadline_passes_at_its_instant_and_only_moves_earlier(
    autojump_clock: trio.testing.MockClock,
) -> None:
    deadline = RunDeadline()
    start = trio.current_time()

    never = deadline.passed()
    deadline.end_at(start + 2.0)
    deadline.end_at(start + 5.0)  # later: ignored
    await trio.sleep(1.0)
    before = deadline.passed()
    await trio.sleep(1.0)
    at = deadline.passed()

    assert not never
    assert deadline.at == start + 2.0
    assert not before
    assert at  # the end instant itself belongs to no one: [start, end)
