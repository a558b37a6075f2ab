"""The pool's limits with real process instances: per-instance cap, max instances and the queue, idle
timeout, reserved (warm) instances, health checks, crashes, prewarm and snapshot."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request

import pytest
from pool_support import Lines, run_pool, target, until

from agentctl.emulator import upkeep
from agentctl.emulator.instance import Status
from agentctl.emulator.limits import Limits, Throttled
from agentctl.emulator.pool import InstancePool, capacity_of
from agentctl.emulator.reserved import warm_count


def serving(pool: InstancePool) -> list[str]:
    return [i.id for i in pool.instances() if i.status in (Status.READY, Status.BUSY)]


def test_a_burst_starts_one_instance_per_capacity_slots_not_one_per_request() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        leases = await asyncio.gather(*(pool.acquire(target(capacity=2)) for _ in range(5)))
        assert len(pool.instances()) == 3  # ceil(5 / 2)
        assert all(lease.cold_start for lease in leases)
        for lease in leases:
            lease.release()
    run_pool(body)


def test_n_plus_one_concurrent_requests_at_capacity_n_start_exactly_one_more_instance() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        held = [await pool.acquire(target(capacity=3)) for _ in range(3)]
        first = held[0].instance
        assert first.status is Status.BUSY and len(pool.instances()) == 1
        more = await asyncio.gather(*(pool.acquire(target(capacity=3)) for _ in range(3)))
        assert len(pool.instances()) == 2
        assert {lease.instance.id for lease in more} == {pool.instances()[1].id}
        for lease in held + more:
            lease.release()
        again = await pool.acquire(target(capacity=3))  # slots pack onto the first instance again
        assert again.instance is first and not again.cold_start
        again.release()
    run_pool(body)


def test_past_max_instances_and_a_full_queue_requests_are_throttled() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        busy = await pool.acquire(target(capacity=1))
        queued = asyncio.create_task(pool.acquire(target(capacity=1)))
        await until(lambda: pool.groups()[0].queue.queued == 1, "the second request queues")
        with pytest.raises(Throttled) as caught:
            await pool.acquire(target(capacity=1))
        assert caught.value.retry_after > 0 and caught.value.retry_after_header == "1"
        assert "queue is full" in caught.value.message and "--max-instances 1" in caught.value.message
        busy.release()
        lease = await queued  # the freed slot goes to the one that waited
        assert lease.instance is busy.instance and not lease.cold_start and lease.queue_wait_ms > 0
        assert len(pool.instances()) == 1
        lease.release()
    run_pool(body, limits=Limits(max_instances=1, queue_depth=1, queue_wait_seconds=60))


def test_a_queued_request_is_throttled_when_its_wait_runs_out() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        busy = await pool.acquire(target(capacity=1))
        with pytest.raises(Throttled, match="within the queue wait"):
            await pool.acquire(target(capacity=1))
        assert pool.groups()[0].queue.queued == 0
        busy.release()
    run_pool(body, limits=Limits(max_instances=1, queue_depth=5, queue_wait_seconds=0.3))


def test_an_idle_instance_of_another_version_makes_room_at_the_maximum() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        old = await pool.acquire(target(version="1"))
        old.release()
        new = await pool.acquire(target(version="2"))
        assert new.cold_start and new.instance.spec.version == "2"
        await until(lambda: old.instance.status is Status.STOPPED
                    and "instance stopped (idle, to make room)" in lines.texts(), "the idle version-1 instance stops")
        new.release()
    run_pool(body, limits=Limits(max_instances=1, queue_depth=5, queue_wait_seconds=5))


def test_idle_instances_stop_after_the_idle_timeout_and_the_next_request_is_a_cold_start() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        lease = await pool.acquire(target())
        lease.release()
        # The instance leaves the pool first and logs its stop once its process is gone: wait for both.
        await until(lambda: not pool.instances() and "instance stopped (idle)" in lines.texts(),
                    "the idle instance stops")
        again = await pool.acquire(target())
        assert again.cold_start and again.instance is not lease.instance
        again.release()
    run_pool(body, idle_timeout=0.5)


def test_reserved_instances_outlive_the_idle_timeout_come_back_after_a_crash_and_go_when_released() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        warm = target(capacity=2)
        pool.keep_warm(warm, warm_count(3, warm.capacity))
        await until(lambda: len(serving(pool)) == 2, "two warm instances are ready")
        first = await pool.acquire(warm)
        assert not first.cold_start
        first.release()
        for _ in range(3):  # several idle timeouts pass: still two, the same two
            upkeep.sweep(pool, now=time.monotonic() + 60)
        kept = set(serving(pool))
        assert len(kept) == 2
        victim = pool.instances()[0]
        assert victim.handle is not None and victim.handle.pid is not None
        os.kill(victim.handle.pid, 9)
        await until(lambda: len(serving(pool)) == 2 and victim.id not in serving(pool), "a replacement is ready")
        pool.stop_keeping(warm.key)
        await until(lambda: not pool.instances(), "the formerly warm instances stop once idle")
    run_pool(body, idle_timeout=0.5)


def test_an_instance_that_fails_its_health_checks_is_replaced() -> None:
    health = {"httpGetUrl": "/health", "periodSeconds": 0.2, "timeoutSeconds": 1, "failureThreshold": 2}

    async def body(pool: InstancePool, lines: Lines) -> None:
        lease = await pool.acquire(target("sickly", healthCheckConfiguration=health))
        sick = lease.instance
        await asyncio.to_thread(urllib.request.urlopen, sick.base_url + "/sicken", None, 10)
        lease.release()
        await until(lambda: sick.status is Status.STOPPED, "the unhealthy instance stops")
        assert "instance unhealthy (2 failed health checks in a row)" in lines.texts()
        assert "instance stopped (unhealthy)" in lines.texts()
        again = await pool.acquire(target("sickly", healthCheckConfiguration=health))
        assert again.instance is not sick and again.cold_start
        again.release()
    run_pool(body)


def test_a_crash_fails_the_instance_logs_its_exit_code_and_the_lease_names_it() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        lease = await pool.acquire(target())
        crashed = lease.instance
        assert crashed.handle is not None and crashed.handle.pid is not None
        os.kill(crashed.handle.pid, 9)
        await until(lambda: crashed.status is Status.STOPPED, "the crash is noticed")
        assert crashed.crashed and crashed.exit_code == -9 and lease.instance.id == crashed.id
        assert crashed not in pool.instances() and pool.find(crashed.id) is crashed
        crash_lines = [line for line in lines if line.text == "instance crashed (exit code -9)"]
        assert [line.instance_id for line in crash_lines] == [crashed.id]
        assert "instance stopped (crashed)" in lines.texts()
        lease.release()  # the gateway still releases the broken request's lease: harmless
        again = await pool.acquire(target())
        assert again.instance is not crashed and again.cold_start
        again.release()
    run_pool(body)


def test_prewarm_returns_with_ready_instances_and_requests_then_start_warm() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        await pool.prewarm(target(capacity=1), 2)
        assert len(serving(pool)) == 2 and lines.texts().count("instance started") == 2
        leases = [await pool.acquire(target(capacity=1)) for _ in range(2)]
        assert not any(lease.cold_start for lease in leases)
        assert {lease.instance.id for lease in leases} == set(serving(pool))
        snapshot = {row["id"]: row for row in pool.snapshot()}
        assert set(snapshot) == set(serving(pool))
        row = next(iter(snapshot.values()))
        assert row["status"] == "BUSY" and row["in_flight"] == 1 and row["version"] == "1"
        assert row["runtime_id"] == "rt-1" and row["sessions"] == 0 and row["started_at"] > 0
        for lease in leases:
            lease.release()
    run_pool(body)


def test_prewarm_of_a_version_that_cannot_start_raises_the_start_failure() -> None:
    from agentctl.emulator.drivers import InstanceStartFailed

    async def body(pool: InstancePool, lines: Lines) -> None:
        with pytest.raises(InstanceStartFailed, match="exited with code 3"):
            await pool.prewarm(target("crash"))
        assert any(text.startswith("instance start failed:") for text in lines.texts())
    run_pool(body)


def test_capacity_comes_from_the_version_config_with_a_default_of_ten() -> None:
    assert capacity_of({"sessionConcurrencyLimitPerInstance": 4}) == 4
    assert capacity_of({}) == 10 and capacity_of({"sessionConcurrencyLimitPerInstance": "x"}) == 10
    assert warm_count(25, 10) == 3 and warm_count(10, 10) == 1 and warm_count(5, None) == 1


def test_a_prewarmed_revision_takes_over_on_its_first_request_and_late_old_requests_still_land() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        old = await pool.acquire(target(revision="r1"))
        await pool.prewarm(target(revision="r2"))
        assert old.instance.status is Status.READY  # not drained before traffic moves
        new = await pool.acquire(target(revision="r2"))
        assert not new.cold_start and old.instance.status is Status.DRAINING
        late = await pool.acquire(target(revision="r1"))  # routed before the switch: no cold start for it
        assert late.instance is old.instance and not late.cold_start
        for lease in (old, late, new):
            lease.release()
        await until(lambda: old.instance.status is Status.STOPPED, "the drained instance stops when idle")
        assert "instance stopped (drained)" in lines.texts()
    run_pool(body)


def test_an_open_exec_shell_keeps_the_instance_from_scaling_to_zero() -> None:
    async def body(pool: InstancePool, lines: Lines) -> None:
        lease = await pool.acquire(target())
        lease.release()
        instance = lease.instance
        with instance.shell_open():
            # Several idle timeouts pass (a bound on a negative check: there is no event for "not stopped").
            await asyncio.sleep(1.0)
            assert instance.status is Status.READY and "instance stopped (idle)" not in lines.texts()
        await until(lambda: "instance stopped (idle)" in lines.texts(), "the instance stops once the shell closed")
    run_pool(body, idle_timeout=0.3)
