"""Issue 19: the real ingest worker, between mosquitto and a 3-master Valkey cluster, passes the
same integration tests as on one node: they are imported from their modules and run here with
`r` and `settings` pointing at the cluster (tests/conftest.py forms it).

Why it can fail: any step of the worker that joins keys of two slots (a script, a MULTI) is
refused with CROSSSLOT on a cluster; a client that is not the cluster's gets MOVED for most
keys; the counters, events and dead letters that tests read must be found wherever they went."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from embedded.processes import ServerProcess
from embedded.valkey_cluster import ValkeyCluster

# Each runs here against the cluster (the import is the point)
from tests.test_coverage_store import (  # noqa: F401
    test_a_track_published_through_a_cell_marks_it_through_the_real_worker,
)
from tests.test_dispatch_loop import test_notice_out_reports_in  # noqa: F401
from tests.test_ingest_integration import (  # noqa: F401
    test_ais_lines_published_one_by_one_give_named_vessels,
    test_bad_input_is_dead_lettered_and_the_worker_goes_on,
    test_redelivery_applies_once_and_old_never_overwrites_new,
    test_sensor_breach_raises_an_alert,
    test_unit_position_reaches_redis,
)


@pytest.fixture
def r(rc: redis.RedisCluster) -> Iterator[Any]:
    """The cluster, where the imported tests read what the worker wrote."""
    yield rc


@pytest.fixture
def settings(valkey_cluster: ValkeyCluster, broker: ServerProcess, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=valkey_cluster.url,
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        mqtt_client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path / "var",
        owntracks_map=tmp_path / "owntracks.json",
        _env_file=None,
    )
