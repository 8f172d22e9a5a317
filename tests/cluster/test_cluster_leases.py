"""Partition leases against a real 3-server JetStream cluster (nats-server 2.9).

Each test starts a fresh cluster (nats_cluster_harness.NatsCluster) and runs one GoogleTest of
the test_cluster_nats binary (tests/cluster/nats_lease_test.cc) against it. The binary comes
from FLEETPULSE_CLUSTER_TEST_BIN (set by ctest), or build/release/tests/test_cluster_nats.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from nats_cluster_harness import NatsCluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Long enough to ride through a JetStream leader election (4-9 s on 2.9) with the margin of
# ttl/3 and a 1 s request timeout to spare.
TTL_MS = 20_000


def cluster_test_binary() -> str:
    path = os.environ.get("FLEETPULSE_CLUSTER_TEST_BIN") or os.path.join(
        ROOT, "build", "release", "tests", "test_cluster_nats")
    if not os.access(path, os.X_OK):
        pytest.fail(f"test_cluster_nats not built ({path}): build with scripts/build.sh")
    return path


@pytest.mark.parametrize("gtest", [
    "ContendingNodesOwnEachPartitionExactlyOnce",
    "PausedOwnerDeadlinePassesBeforeTheOtherNodeTakesOver",
    "LeasesKeepRenewingWhenTheBucketLeaderServerIsKilled",
    "OwnerLostWhileANatsServerIsDownIsTakenOver",
    "SecondNodeWithTheSameIdIsRefused",
    "ExistingBucketWithAnotherTtlIsRefused",
])
def test_leases_on_real_jetstream(gtest: str) -> None:
    binary = cluster_test_binary()
    with NatsCluster() as cluster:
        env = dict(os.environ,
                   FLEETPULSE_NATS_URLS=",".join(cluster.urls),
                   FLEETPULSE_NATS_PIDS=",".join(str(p) for p in cluster.pids),
                   FLEETPULSE_LEASE_TTL_MS=str(TTL_MS))
        run = subprocess.run([binary, f"--gtest_filter=NatsLeaseTest.{gtest}"], env=env,
                             capture_output=True, text=True, timeout=180)
        print(run.stdout[-4000:], run.stderr[-4000:])
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert "[  PASSED  ] 1 test" in run.stdout, run.stdout[-4000:]
