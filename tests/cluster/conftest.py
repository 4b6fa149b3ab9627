"""One clustered stack (three NATS nodes, PostgreSQL primary and standby) and one ingest role on
it, shared by the cluster tests that do not kill servers (tests/cluster/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.harness import ClusterIngest, ClusterStack, cluster_stack
from tests.support.servers import starts_servers


@pytest.fixture(scope="package")
@starts_servers
def cluster() -> Iterator[ClusterStack]:
    with cluster_stack() as stack:
        yield stack


@pytest.fixture(scope="package")
def cluster_ingest(cluster: ClusterStack) -> Iterator[ClusterIngest]:
    with ClusterIngest(cluster, workers=2) as ingest:
        yield ingest
