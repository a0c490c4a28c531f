"""Issue 19: the web app's API, the incidents and dispatch, the audit log and its trails, and the
live picture's stream on a 3-master Valkey cluster: the modules' own tests, imported and run here
with `r` and `settings` pointing at the cluster (tests/conftest.py forms it).

Why it can fail: a script or a MULTI over keys of two slots is refused with CROSSSLOT; a command
a client sends to the wrong node gets MOVED; a wait for the append-only file asked of another
node than the write's says nothing; a reader that does not gather what each shard keeps.
Left out, each for a reason of its harness, not of the product: the tests that pause or
reconfigure the one server (test_api's Redis pause, test_store_incidents' AOF switch), the two
that subclass redis.Redis to interleave two writers (test_audit's pruning races), and
test_sign_in_throttle, whose `site` fixture is another than test_live_stream's (every sign-in
here goes through the throttle's script all the same). The modules' fixtures `r` and
`settings` are the cluster's: they are defined after the imports."""

from __future__ import annotations

from typing import Any

import redis

from config.settings import Settings
from tests.helpers import cluster_fixtures
from tests.test_alert_actions import *  # noqa: F403
from tests.test_alerts_api import *  # noqa: F403
from tests.test_api import test_every_route_answers_its_schema_to_every_role  # noqa: F401
from tests.test_api_token import *  # noqa: F403
from tests.test_archive import *  # noqa: F403
from tests.test_audit import (  # noqa: F401
    chain,
    test_a_forged_head_signature_is_refused,
    test_a_supplied_signing_key_that_is_not_there_is_an_error_never_made,
    test_a_trails_pointers_are_read_from_its_end_back_to_the_day_asked,
    test_a_truncated_tail_is_caught_at_the_next_head,
    test_an_entry_a_lagging_clock_adds_to_a_closed_day_still_verifies_from_the_next,
    test_an_entry_taken_out_of_its_trail_is_named,
    test_an_exported_head_shows_a_rewritten_chain,
    test_an_untouched_record_verifies_and_the_command_says_so,
    test_days_deleted_inside_the_retention_are_named_even_from_the_oldest_end,
    test_pruned_days_leave_a_chain_that_verifies_from_its_first_kept_day,
    test_verify_from_a_day_starts_at_that_days_anchor,
    test_verify_names_each_single_change_before_the_last_signed_head,
)
from tests.test_citizen_reports import *  # noqa: F403
from tests.test_coverage_api import *  # noqa: F403
from tests.test_day_close import *  # noqa: F403
from tests.test_escalation import *  # noqa: F403
from tests.test_field_api import *  # noqa: F403
from tests.test_incidents_api import *  # noqa: F403
from tests.test_kpi_api import *  # noqa: F403
from tests.test_live_stream import *  # noqa: F403
from tests.test_picture_relay import *  # noqa: F403
from tests.test_store_incidents import *  # noqa: F403
from tests.test_track_api import *  # noqa: F403
from tests.test_trail import *  # noqa: F403
from tests.test_wall import *  # noqa: F403

globals().pop("test_without_an_append_only_file_writes_are_not_called_durable")


# last, so that they are the fixtures of every test above, whatever its module defined
r, settings = cluster_fixtures()


def test_these_run_on_the_cluster(r: Any, settings: Settings) -> None:
    assert isinstance(r, redis.RedisCluster)
    assert settings.redis_url.endswith(f":{r.get_default_node().port}/0")
