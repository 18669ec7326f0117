"""The tree has no cycle of ``block`` channels (issue 8 §1: the freeze under REST faults).

Execution waited to publish ``order.rejected`` into risk's full inbox while risk waited to publish
``risk.approved`` into execution's: two ``block`` edges in a cycle. The rule (``pyrt/bus.py``):
topics flowing back upstream are subscribed with ``Policy.FEEDBACK``, so the graph of ``block``
edges — publisher → subscriber, for each topic the publisher declares in
:data:`pyrt.modes.tree.PUBLISHES` — has no cycle. Here the real tree is built and run on
virtual time against the in-process venue; its subscriptions give the graph, and a recording
wrapper on the bus checks that every actor publishes only what it declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from pyrt.config import load_config
from pyrt.messages import Message, OrderFilled, TradeReceived
from pyrt.modes.simulation import DEFAULT_START_NS
from pyrt.modes.tree import PUBLISHES, RunStatus, TradingTree
from pyrt.persistence.store import Store
from pyrt.runtime.bus import BlockingEdge, Bus, Policy, blocking_edges, find_blocking_cycle
from pyrt.runtime.clock import VirtualClock, make_rng
from pyrt.runtime.journal import JournalWriter
from pyrt.venues.sim.venue import SimVenue

CHILD_TASK_PREFIX = "pyrt/"  # the supervisor names each child's task "<supervisor>/<child>"


def _publisher() -> str:
    """The actor whose task (or a task under it) is running: the one publishing now."""
    task: trio.lowlevel.Task | None = trio.lowlevel.current_task()
    while task is not None:
        if task.name.startswith(CHILD_TASK_PREFIX):
            return task.name.removeprefix(CHILD_TASK_PREFIX)
        nursery = task.parent_nursery
        task = nursery.parent_task if nursery is not None else None
    return "tree"


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Record, per publishing actor, every topic it publishes (patched before the tree exists)."""
    seen: dict[str, set[str]] = {}
    publish, publish_batch = Bus.publish, Bus.publish_batch

    async def recording_publish(self: Bus, msg: Message) -> None:
        seen.setdefault(_publisher(), set()).add(msg.TOPIC)
        await publish(self, msg)

    async def recording_publish_batch(self: Bus, msgs: Sequence[Message]) -> None:
        seen.setdefault(_publisher(), set()).update(m.TOPIC for m in msgs)
        await publish_batch(self, msgs)

    monkeypatch.setattr(Bus, "publish", recording_publish)
    monkeypatch.setattr(Bus, "publish_batch", recording_publish_batch)
    return seen


async def _run_tree(
    tmp_path: Path, seconds: float
) -> tuple[TradingTree, tuple[BlockingEdge, ...] | None, tuple[BlockingEdge, ...]]:
    """Run the whole tree (store included) and take its graph while it runs.

    No control socket: its real socket would let the autojumping clock run ahead while it starts.
    The control actor subscribes to nothing, so it can add no edge into itself.
    """
    config = load_config(env={}, overrides={"run.seed": 7, "symbols": ["AAPL", "MSFT"]})
    clock = VirtualClock(DEFAULT_START_NS)
    rng = make_rng(7)
    venue = SimVenue(config.symbols, clock=clock, rng=rng, starting_cash=config.risk.starting_cash)
    with (
        JournalWriter.create(tmp_path / "graph.pyrtj", metadata={}) as journal,
        Store.open(tmp_path / "graph.sqlite3") as store,
    ):
        tree = TradingTree(
            config,
            feed=venue,
            broker=venue,
            clock=clock,
            rng=rng,
            journal=journal,
            virtual_time=True,
            store=store,
        )
        cycle: tuple[BlockingEdge, ...] | None = None
        edges: tuple[BlockingEdge, ...] = ()

        async def look() -> None:
            nonlocal cycle, edges
            await clock.sleep(seconds / 2)
            cycle = tree.blocking_cycle()
            edges = blocking_edges(PUBLISHES, tree.bus.subscriptions())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(look)
            await tree.run(duration=seconds)
        return tree, cycle, edges


async def test_tree_has_no_cycle_of_blocking_channels_and_publishes_only_what_it_declares(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, published: dict[str, set[str]]
) -> None:
    tree, cycle, edges = await _run_tree(tmp_path, 30.0)

    assert cycle is None
    assert edges  # the graph was taken while the tree ran
    # every actor of the tree is declared, and published nothing it did not declare
    names = {child.name for child in tree.supervisor.statistics().children}
    assert names <= PUBLISHES.keys()
    undeclared = {actor: topics - PUBLISHES.get(actor, frozenset()) for actor, topics in published.items()}
    assert {actor: topics for actor, topics in undeclared.items() if topics} == {}
    # the run was real: the forward path carried orders and the feedback path their outcomes
    assert {"market.quote", "market.bar"} <= published.get("market_data", set()), published
    assert "signal.generated" in published["signal"]
    assert "risk.approved" in published["risk"]
    assert {"order.submitted", "order.filled"} <= published["execution"]


async def test_feedback_topics_reach_upstream_actors_only_on_feedback_subscriptions(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    _, _, edges = await _run_tree(tmp_path, 2.0)
    # the edges that remain are the forward ones, each into an actor downstream of its publisher
    # (and into the recorder and the store, which publish nothing)
    forward = {("market_data", "signal"), ("signal", "risk"), ("risk", "execution")}
    pairs = {
        (e.publisher, e.subscriber)
        for e in edges
        if e.publisher != "tree" and e.subscriber not in ("recorder", "store")
    }
    assert pairs - forward == set()
    assert ("execution", "risk") not in pairs
    assert ("execution", "signal") not in pairs
    assert ("risk", "signal") not in pairs


def test_checker_finds_a_planted_cycle_of_two_block_edges() -> None:
    bus = Bus()
    bus.subscribe(TradeReceived, name="downstream")
    bus.subscribe(OrderFilled, name="upstream.orders")  # block: the planted feedback edge
    publishers = {"upstream": {TradeReceived.TOPIC}, "downstream": {OrderFilled.TOPIC}}

    cycle = find_blocking_cycle(publishers, bus.subscriptions())

    assert cycle is not None
    assert {(e.publisher, e.subscriber, e.topic) for e in cycle} == {
        ("upstream", "downstream", "market.trade"),
        ("downstream", "upstream", "order.filled"),
    }


def test_checker_accepts_the_same_edge_back_upstream_as_feedback() -> None:
    bus = Bus()
    bus.subscribe(TradeReceived, name="downstream")
    bus.subscribe(OrderFilled, name="upstream.orders", policy=Policy.FEEDBACK)
    publishers = {"upstream": {TradeReceived.TOPIC}, "downstream": {OrderFilled.TOPIC}}

    assert find_blocking_cycle(publishers, bus.subscriptions()) is None


def test_checker_finds_a_longer_cycle_and_a_self_loop() -> None:
    bus = Bus()
    bus.subscribe("market.", name="b")
    bus.subscribe("signal.", name="c")
    bus.subscribe("risk.", name="a")
    publishers = {"a": {"market.trade"}, "b": {"signal.generated"}, "c": {"risk.approved"}}
    cycle = find_blocking_cycle(publishers, bus.subscriptions())
    assert cycle is not None
    assert [(e.publisher, e.subscriber) for e in cycle] == [("a", "b"), ("b", "c"), ("c", "a")]

    solo = Bus()
    solo.subscribe("order.", name="execution")
    loop = find_blocking_cycle({"execution": {"order.filled"}}, solo.subscriptions())
    assert loop is not None
    assert [(e.publisher, e.subscriber) for e in loop] == [("execution", "execution")]


async def test_watchdog_counts_and_shows_a_block_subscription_whose_publisher_is_stuck(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    config = load_config(env={}, overrides={"run.seed": 3, "symbols": ["AAPL"]})
    clock = VirtualClock(DEFAULT_START_NS)
    rng = make_rng(3)
    venue = SimVenue(config.symbols, clock=clock, rng=rng, starting_cash=config.risk.starting_cash)
    seen: list[RunStatus] = []
    with JournalWriter.create(tmp_path / "stall.pyrtj", metadata={}) as journal:
        tree = TradingTree(
            config, feed=venue, broker=venue, clock=clock, rng=rng, journal=journal, virtual_time=True
        )
        with tree.bus.subscribe("market.", name="stuck", buffer=1):  # never read: market data stalls
            await tree.run(duration=40.0, on_status=seen.append, status_interval=1.0)

    assert tree.stalls == 1  # one stall, counted once however long it lasts
    stalled = [s.stalled for s in seen if s.stalled]
    assert stalled
    assert set(stalled[-1]) == {"stuck"}
    assert stalled[-1]["stuck"] > 30.0
    assert seen[-1].stalls == 1
    assert all(not s.stalled for s in seen[:4])  # under the threshold, nothing is reported


def test_the_status_line_shows_a_stall_while_it_lasts_and_the_count_after() -> None:
    from pyrt.cli import _format_status

    def status(stalled: dict[str, float], stalls: int) -> RunStatus:
        return RunStatus(
            elapsed=12.0,
            published_by_topic={},
            rates={},
            positions=(),
            realized_pnl=0.0,
            unrealized_pnl=0.0,
            equity=1e5,
            restarts=0,
            trading_state="active",
            stalled=stalled,
            stalls=stalls,
        )

    assert _format_status(status({"risk": 7.4}, 1)).endswith(" | STALLED risk 7s (stalls 1)")
    assert _format_status(status({}, 1)).endswith(" | stalls 1")
    assert "stall" not in _format_status(status({}, 0)).lower()
