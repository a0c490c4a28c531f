"""Issue 19: the real ingest worker, between mosquitto and a 3-master Valkey cluster, passes the
same integration tests as on one node, and the ingest store's own (any order and redelivery
gives one state; two workers taking one unit's reports out of order; the vessel watch): they
are imported from their modules and run here with `r` and `settings` on the cluster
(tests/conftest.py forms it; the fixtures are defined after the imports, so they win).

Why it can fail: any step of the worker that joins keys of two slots (a script, a MULTI) is
refused with CROSSSLOT on a cluster; a client that is not the cluster's gets MOVED for most
keys; the counters, events and dead letters that tests read must be found wherever they went."""

from __future__ import annotations

from tests.helpers import cluster_fixtures

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
from tests.test_store_state import *  # noqa: F403  (any order, any redelivery: one state)
from tests.test_task_order import *  # noqa: F403  (two workers, one unit's reports out of order)
from tests.test_vessel_watch import *  # noqa: F403

# last, so that they are the fixtures of every test above, whatever its module defined
r, settings = cluster_fixtures()
