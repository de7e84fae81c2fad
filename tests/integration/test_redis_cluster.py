"""The bus on a real Redis Cluster: three masters from Debian's redis-server, made here.

REDIS_URL=redis+cluster://host:port selects the cluster client (shared/bus/connect.py).
The bus contract's tests run here again, unchanged, against the cluster, and so do the
pacing and daily-cap tests (their scripts touch one key each); then a small burst goes
through the scheduler's real worker processes and the Twilio fake on it.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from mmt.processes import private_redis_argv
from shared.bus.connect import connect_redis, redis_version
from shared.net import wait_for_port
from tests.conftest import Backends
from tests.integration.test_bench_smoke import _bench
from tests.integration.test_bus_contract import (
    keys,
    test_a_batch_handler_takes_a_read_batch_in_one_transaction_and_falls_back_one_by_one,
    test_a_failed_handler_is_retried_and_its_partial_work_rolled_back,
    test_a_state_guarded_batch_handler_runs_without_the_inbox,
    test_entries_of_a_consumer_killed_with_sigkill_are_reclaimed,
    test_every_outbox_event_reaches_the_other_service,
    test_garbled_and_unknown_payloads_are_dead_lettered_without_blocking_the_rest,
    test_outbox_is_published_again_after_redis_loses_everything,
    test_poison_messages_go_to_dead_letters_with_the_reason_and_can_be_replayed,
    test_redelivered_and_duplicated_messages_take_effect_once,
    test_replaying_an_unknown_or_malformed_dead_letter_says_so,
    test_trimming_keeps_pending_and_undelivered_entries,
)
from tests.integration.test_channels_daily_cap import (
    test_a_send_the_provider_surely_refused_gives_its_unit_back,
    test_two_workers_share_one_count_per_number,
)
from tests.integration.test_channels_pacing import (
    test_a_cost_takes_that_many_units,
    test_a_paced_channel_sends_within_the_rate_and_hands_back_the_rest,
    test_workers_sharing_a_rate_get_exactly_its_amount,
)
from tests.integration.test_receipts_worker import (
    test_a_receipt_before_its_send_is_recorded_is_kept_then_applied,
    test_an_unknown_receipt_is_dead_lettered_after_its_bound,
    test_the_fallback_waits_for_receipts_still_in_the_stream,
)

__all__ = [  # collected here too, with this module's fixtures: on the cluster
    "keys",
    "test_a_batch_handler_takes_a_read_batch_in_one_transaction_and_falls_back_one_by_one",
    "test_a_cost_takes_that_many_units",
    "test_a_failed_handler_is_retried_and_its_partial_work_rolled_back",
    "test_a_paced_channel_sends_within_the_rate_and_hands_back_the_rest",
    "test_a_receipt_before_its_send_is_recorded_is_kept_then_applied",
    "test_a_send_the_provider_surely_refused_gives_its_unit_back",
    "test_a_state_guarded_batch_handler_runs_without_the_inbox",
    "test_an_unknown_receipt_is_dead_lettered_after_its_bound",
    "test_entries_of_a_consumer_killed_with_sigkill_are_reclaimed",
    "test_every_outbox_event_reaches_the_other_service",
    "test_garbled_and_unknown_payloads_are_dead_lettered_without_blocking_the_rest",
    "test_outbox_is_published_again_after_redis_loses_everything",
    "test_poison_messages_go_to_dead_letters_with_the_reason_and_can_be_replayed",
    "test_redelivered_and_duplicated_messages_take_effect_once",
    "test_replaying_an_unknown_or_malformed_dead_letter_says_so",
    "test_the_fallback_waits_for_receipts_still_in_the_stream",
    "test_trimming_keeps_pending_and_undelivered_entries",
    "test_two_workers_share_one_count_per_number",
    "test_workers_sharing_a_rate_get_exactly_its_amount",
]
MASTERS = 3


def cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus ports (port + 10000) are free too: an ephemeral port
    above 55535 would put its bus port past 65535, and the node would not start."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(20_000, 45_000)
        if port not in chosen and all(_free(p) for p in (port, port + 10_000)):
            chosen.append(port)
    return chosen


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    """A fresh three-master Redis Cluster on loopback ports, gone after the module."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    assert server, "redis-server is needed (.ci/run installs it)"
    assert cli, "redis-cli is needed (.ci/run installs it with redis-server)"
    folder = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
    ports = cluster_ports(MASTERS)
    nodes = []
    try:
        for port in ports:
            argv = [
                *private_redis_argv(server, port),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(folder / f"nodes-{port}.conf"),
                "--dir",
                str(folder),
            ]
            nodes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        for port in ports:
            wait_for_port(port, 10)
        addresses = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        # Every node must agree that all 16,384 slots are served before clients start.
        for port in ports:
            subprocess.run(
                [cli, "-p", str(port), "--cluster", "check", f"127.0.0.1:{port}"],
                check=True,
                capture_output=True,
                timeout=60,
            )
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_kind() -> str:
    # The contract's tests that name a kind (`indirect=True`) get the cluster here too.
    return "cluster"


@pytest.fixture
def redis_url(redis_kind: str, cluster_url: str) -> str:
    return cluster_url


@pytest.fixture
def wipeable_redis_url(cluster_url: str) -> str:
    return cluster_url  # this module's own cluster: a test may flush it


@pytest.fixture
async def redis(redis_url: str, isolation: str) -> AsyncIterator[Redis]:
    client = connect_redis(redis_url)
    yield client
    await client.aclose()


async def test_the_bus_keys_of_a_prefix_share_one_slot_and_the_cluster_spreads_others(
    redis: Redis, isolation: str
) -> None:
    from redis.asyncio import RedisCluster

    from shared.bus import BusKeys

    assert isinstance(redis, RedisCluster)
    bus = BusKeys(isolation.rstrip("_"))
    slots = {
        await redis.cluster_keyslot(key)
        for key in (bus.stream("A"), bus.stream("B"), bus.dead_letters, bus.errors("g"))
    }
    assert len(slots) == 1
    others = {await redis.cluster_keyslot(f"{bus.prefix}:pace:{n}") for n in range(50)}
    assert len(others) > 1  # channel keys (one key per command) are not pinned to it


def test_a_burst_through_the_scheduler_on_the_cluster(
    backends: Backends, cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_cluster = Backends(database_url=backends.database_url, redis_url=cluster_url)
    figures = _bench(on_cluster, monkeypatch, "dispatch", "--reminders", "300", "--workers", "2")
    assert figures["states"] == {"sent": 300}
    assert figures["provider_duplicates"] == 0
    assert figures["dead_letters"] == 0
    assert figures["machine"]["redis"].split(".")[0].isdigit()  # the cluster's version


async def test_the_version_check_asks_one_node(redis: Redis) -> None:
    # `mmt doctor` refuses a Redis older than 6.2; on a cluster it asks the default node.
    version = await redis_version(redis)
    assert tuple(int(part) for part in version.split(".")[:2]) >= (6, 2)
