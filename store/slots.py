"""Commands sent to the node that holds their keys, on one Redis node or a Redis Cluster.

Each group of keys that one step touches shares a hash tag (store/keys.py). On a cluster, a
pipeline of script calls is sent to each group's node over that node's own connection: redis-py's
cluster pipeline asks the server `COMMAND GETKEYS` for every EVALSHA it queues (docs/
architecture.md measured it at a tenth of the node's rate), while we know each call's node from
its tag. On one node every group is the same node: one pipeline, as before.

A pipeline can be sent now and its answers read later (`NodePipelines.send`, `Sent.answers`):
the ingest worker has Redis run a batch's writes while it handles the next batch. redis-py has
no such call; `Sent` sends what a redis-py pipeline queued (its `command_stack` and `scripts`,
undocumented parts of redis-py 8.1, which pyproject.toml pins) over a connection of its pool and
reads each answer as the pipeline would (`parse_response`). tests/test_slots.py checks it.
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
    """Non-transactional pipelines, one per node the queued commands' tags are on. They are only
    where commands are queued (redis-py builds each command): `send` writes them to their nodes
    and `Sent.answers` reads what the nodes answered, so that the nodes run them while this
    process goes on with other work."""

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

    def send(self) -> Sent:
        """Writes every pipeline's commands to its node (one write each), reading nothing yet.
        Raises if one cannot be written: what was written to the others runs, unread (the
        caller acknowledges nothing, and the redelivery is deduplicated)."""
        sent = Sent()
        try:
            for p in self._pipes.values():
                if len(p):
                    sent.add(p)
        except BaseException:
            sent.drop()
            raise
        return sent

    def execute(self) -> dict[int, list[Any]]:
        """Sends every pipeline and reads their answers: by the pipeline's id."""
        return self.send().answers()


class Sent:
    """Pipelines written to their nodes' connections, each connection kept out of its pool until
    every answer on it is read (or the connection is dropped)."""

    def __init__(self) -> None:
        self._unread: list[tuple[redis.client.Pipeline, Any]] = []

    def add(self, pipe: redis.client.Pipeline) -> None:
        conn = pipe.connection_pool.get_connection()
        self._unread.append((pipe, conn))
        conn.send_packed_command(conn.pack_commands([args for args, _ in pipe.command_stack]))

    def answers(self) -> dict[int, list[Any]]:
        """What each pipeline's commands answered (redis-py's replies, as its pipeline gives
        them), by the pipeline's id. Raises the first error, once every answer is read."""
        out: dict[int, list[Any]] = {}
        try:
            while self._unread:
                pipe, conn = self._unread[0]
                out[id(pipe)] = [_reply(pipe, conn, cmd) for cmd in pipe.command_stack]
                self._unread.pop(0)
                pipe.connection_pool.release(conn)
                _run_unloaded_scripts(pipe, out[id(pipe)])
        except BaseException:
            self.drop()
            raise
        for answers in out.values():
            for a in answers:
                if isinstance(a, redis.exceptions.ResponseError):
                    raise a
        return out

    def drop(self) -> None:
        """Gives up what is unread: its connections are closed (an unread answer would be read
        as the next command's)."""
        for pipe, conn in self._unread:
            conn.disconnect()
            pipe.connection_pool.release(conn)
        self._unread = []


def _reply(pipe: redis.client.Pipeline, conn: Any, cmd: tuple[tuple[Any, ...], dict]) -> Any:
    args, options = cmd
    try:
        return pipe.parse_response(conn, args[0], **options)
    except redis.exceptions.ResponseError as e:
        return e


def _run_unloaded_scripts(pipe: redis.client.Pipeline, answers: list[Any]) -> None:
    """A script call Redis answered NOSCRIPT (it restarted or was flushed since the script was
    loaded) did not run: it runs now, the script sent whole, in the order of the calls."""
    scripts = {s.sha: s.script for s in pipe.scripts}
    redo = [
        i
        for i, ((args, _options), answer) in enumerate(
            zip(pipe.command_stack, answers, strict=True)
        )
        if isinstance(answer, redis.exceptions.NoScriptError) and args[1] in scripts
    ]
    if not redo:
        return
    # over a connection of the pool itself, not a client's: nothing is sent twice on a timeout
    conn = pipe.connection_pool.get_connection()
    try:
        for i in redo:
            args, options = pipe.command_stack[i]
            conn.send_command("SCRIPT", "LOAD", scripts[args[1]])
            conn.read_response()
            conn.send_command(*args)
            answers[i] = _reply(pipe, conn, (args, options))
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pipe.connection_pool.release(conn)
