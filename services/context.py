"""The application context: the shared objects every action needs, built once per process.

Built by the app factory (and by tools and tests) and handed to the services, so that no
business function reaches for a cached loader or a module global. A test builds it with a
fixed clock to run an action at a chosen instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from config.settings import Settings
from domain.clock import Clock, system_ms
from domain.coverage_places import CoverageGeography, load_coverage
from domain.geo import Geography, load_geography
from domain.incidents import DispatchRules, load_rules
from domain.travel import TravelModel
from infra.connections import Unreachable, no_retry, redis_client


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    redis: redis.Redis
    geo: Geography
    travel: TravelModel
    coverage: CoverageGeography
    rules: DispatchRules  # config/dispatch.json: incident types, deadlines, unit kinds
    clock: Clock

    def now_ms(self) -> int:
        return self.clock()


def build(settings: Settings, clock: Clock = system_ms) -> AppContext:
    """Connects to Redis and loads the geography."""
    geo = load_geography()
    return AppContext(
        settings=settings,
        redis=_redis(settings.effective_redis_url),
        geo=geo,
        travel=TravelModel.from_geography(geo),  # ~50 ms, once per process
        coverage=load_coverage(),
        rules=load_rules(),
        clock=clock,
    )


def _redis(url: str) -> Any:
    """A client with short timeouts (a page or API call answers "Redis is down" instead of
    hanging) that never runs a write twice (infra/connections.no_retry): a cluster's when the
    server at `url` is one (infra/connections.redis_client asks it). A server that does not
    answer now gets a one-node client that connects at first use, so the app starts and its
    pages say Redis is down meanwhile; a cluster's web hosts start once it answers
    (docs/deploy.md)."""
    try:
        return redis_client(url, wait_s=0, socket_timeout=2, socket_connect_timeout=2)
    except Unreachable:
        return redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, retry=no_retry()
        )
