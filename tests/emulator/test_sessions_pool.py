"""Sessions in the pool: a session sticks to one instance, counts as one slot, expires, and rebinds when its
instance goes (crash, newer revision)."""

from __future__ import annotations

import asyncio
import os
import time

from pool_support import Lines, run_pool, target, until

from agentctl.emulator import upkeep
from agentctl.emulator.drivers.base import InstanceSpec
from agentctl.emulator.instance import Instance, Status
from agentctl.emulator.pool import InstancePool


def test_fifty_requests_of_one_session_meet_the_same_instance_while_others_spread() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        seen = set()
        for round_ in range(10):  # 50 requests: 5 at a time, with other sessions' requests in between
            leases = await asyncio.gather(*(pool.acquire(target(capacity=2), session="alice") for _ in range(5)))
            other = await pool.acquire(target(capacity=2), session=f"other-{round_}")
            seen |= {lease.instance.id for lease in leases}
            if round_ == 0:
                assert len(pool.instances()) == 1  # a cold burst of one session claims one slot
            for lease in [*leases, other]:
                lease.release()
            upkeep.sweep(pool, now=time.monotonic() + 3600)  # forget the idle "other" sessions
        assert len(seen) == 1
    run_pool(body)


def test_capacity_counts_sessions_and_a_bound_session_gets_in_even_when_full() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        a = await pool.acquire(target(capacity=2), session="a")
        b = await pool.acquire(target(capacity=2), session="b")
        first = a.instance
        assert b.instance is first and first.status is Status.BUSY
        more_a = await pool.acquire(target(capacity=2), session="a")  # joins its own slot
        assert more_a.instance is first and first.in_flight == 3
        c = await pool.acquire(target(capacity=2), session="c")
        assert c.instance is not first and c.cold_start
        for lease in (a, b, more_a):
            lease.release()
        plain = await pool.acquire(target(capacity=2))  # a and b still live (not expired): first is full
        assert plain.instance is c.instance
        for lease in (c, plain):
            lease.release()
    run_pool(body)


def test_an_expired_session_frees_its_slot_and_binds_anew() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        config = {"sessionIdleTimeoutSeconds": 5}
        a = await pool.acquire(target(capacity=1, **config), session="a")
        first = a.instance
        a.release()
        upkeep.sweep(pool, now=time.monotonic() + 1)  # not yet idle long enough
        assert first.holds("a") and first.status is Status.BUSY
        upkeep.sweep(pool, now=time.monotonic() + 10)
        assert not first.holds("a") and first.status is Status.READY
        b = await pool.acquire(target(capacity=1, **config), session="b")
        assert b.instance is first and not b.cold_start
        b.release()
    run_pool(body)


def test_a_session_whose_instance_crashed_moves_to_a_replacement_and_stays_there() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        a = await pool.acquire(target(), session="s")
        a.release()
        crashed = a.instance
        assert crashed.handle is not None and crashed.handle.pid is not None
        os.kill(crashed.handle.pid, 9)
        await until(lambda: crashed.status is Status.STOPPED, "the crash is noticed")
        again = await pool.acquire(target(), session="s")
        assert again.instance is not crashed
        again.release()
        third = await pool.acquire(target(), session="s")
        assert third.instance is again.instance
        third.release()
    run_pool(body)


def test_a_session_follows_a_new_revision_and_the_old_instance_drains() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        old = await pool.acquire(target(revision="r1"), session="s")
        new = await pool.acquire(target(revision="r2"), session="s")
        assert new.instance is not old.instance and old.instance.status is Status.DRAINING
        old.release()
        await until(lambda: old.instance.status is Status.STOPPED, "the old revision drains")
        later = await pool.acquire(target(revision="r2"), session="s")
        assert later.instance is new.instance
        new.release()
        later.release()
    run_pool(body)


def test_slot_accounting_of_one_instance() -> None:
    instance = Instance(InstanceSpec("c-slots", "rt-1", "agent", "1", "/tmp", {}), "r1", capacity=2)
    instance.mark_ready()
    assert instance.try_reserve("x") and instance.try_reserve() and instance.status is Status.BUSY
    assert not instance.try_reserve("y") and instance.try_reserve("x")  # x already holds a slot
    assert instance.used == 2 and instance.in_flight == 3
    instance.release()
    assert instance.status is Status.READY and instance.free == 1
    instance.release("x")
    instance.release("x")
    assert instance.idle and instance.holds("x") and instance.idle_for() == 0.0  # a live session is not idle
    assert instance.expire_sessions(0.0) == ["x"] and instance.used == 0 and instance.idle_for() >= 0
