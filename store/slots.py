"""Commands sent to the node that holds their keys, on one Redis node or a Redis Cluster.

Each group of keys that one step touches shares a hash tag (store/keys.py). On a cluster, a
pipeline of script calls is sent to each group's node over that node's own connection: redis-py's
cluster pipeline asks the server `COMMAND GETKEYS` for every EVALSHA it queues (docs/
architecture.md measured it at a tenth of the node's rate), while we know each call's node from
its tag. On one node every group is the same node: one pipeline, as before.
"""

from __future__ import annotations

from typing import Any

import redis


def is_cluster(r: Any) -> bool:
    return isinstance(r, redis.RedisCluster)


def node_client(r: Any, tag: str) -> redis.Redis:
    """The client of the node that holds the keys of `tag` (a key's tag, braces included)."""
    if not is_cluster(r):
        return r
    return r.get_redis_connection(r.get_node_from_key(tag))


def pipeline(r: Any, tag: str, transaction: bool = False) -> redis.client.Pipeline:
    """A pipeline to the node of `tag`'s keys, where script calls may be queued (redis-py's
    cluster pipeline refuses EVALSHA)."""
    return node_client(r, tag).pipeline(transaction=transaction)


class NodePipelines:
    """Non-transactional pipelines, one per node the queued commands' tags are on."""

    def __init__(self, r: Any) -> None:
        self.r = r
        self._pipes: dict[str, redis.client.Pipeline] = {}

    def of(self, tag: str) -> redis.client.Pipeline:
        node = self.r.get_node_from_key(tag) if is_cluster(self.r) else None
        name = node.name if node is not None else ""
        if name not in self._pipes:
            client = self.r if node is None else self.r.get_redis_connection(node)
            self._pipes[name] = client.pipeline(transaction=False)
        return self._pipes[name]

    def execute(self) -> dict[int, list[Any]]:
        """Runs every pipeline (one round trip each, one after the other); the answers by the
        pipeline's id. Raises the first error (the pipelines after it are not sent: the caller
        acknowledges nothing, and the redelivery is deduplicated)."""
        return {id(p): p.execute() if len(p) else [] for p in self._pipes.values()}
