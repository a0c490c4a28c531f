"""Pipelines sent now and read later (store/slots.NodePipelines.send): Redis runs them while
the caller does other work on the same client; every answer comes back to its command."""

from __future__ import annotations

import pytest
import redis

from store import slots

_INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def _queued(r: redis.Redis) -> tuple[slots.NodePipelines, redis.client.Pipeline]:
    pipes = slots.NodePipelines(r)
    return pipes, pipes.of("{g}")


def test_answers_read_after_other_commands_on_the_client_are_each_commands_own(
    r: redis.Redis,
) -> None:
    script = r.register_script(_INCR_BY)
    pipes, pipe = _queued(r)
    pipe.set("{g}a", "1")
    script(keys=["{g}n"], args=[5], client=pipe)
    pipe.hset("{g}h", mapping={"x": "1", "y": "2"})
    pipe.hgetall("{g}h")
    sent = pipes.send()
    r.set("{g}b", "2")  # the client goes on meanwhile, over another connection
    assert r.get("{g}b") == b"2"
    assert sent.answers()[id(pipe)] == [True, 5, 2, {b"x": b"1", b"y": b"2"}]
    assert r.get("{g}n") == b"5"


def test_a_script_redis_no_longer_holds_runs_once_loaded(r: redis.Redis) -> None:
    script = r.register_script(_INCR_BY)
    assert script(keys=["{g}n"], args=[1]) == 1
    r.script_flush()  # as after a restart without the script cache
    pipes, pipe = _queued(r)
    script(keys=["{g}n"], args=[2], client=pipe)
    pipe.incr("{g}other")
    script(keys=["{g}n"], args=[3], client=pipe)
    assert pipes.execute()[id(pipe)] == [3, 1, 6]
    assert r.get("{g}n") == b"6"  # each call ran once
    assert r.script_exists(script.sha) == [True]


def test_an_error_is_raised_once_every_answer_is_read(r: redis.Redis) -> None:
    pipes, pipe = _queued(r)
    r.set("{g}s", "text")
    pipe.incr("{g}s")  # not an integer
    pipe.set("{g}after", "1")
    with pytest.raises(redis.exceptions.ResponseError):
        pipes.execute()
    assert r.get("{g}after") == b"1"
    assert r.ping()  # the connection went back to the pool with nothing left unread on it


def test_a_connection_lost_before_the_answers_raises_and_leaves_the_pool_usable(
    r: redis.Redis,
) -> None:
    pipes, pipe = _queued(r)
    pipe.blpop(["{g}empty"], timeout=5)  # the connection waits in Redis
    pipe.set("{g}late", "1")
    sent = pipes.send()
    r.client_kill_filter(_type="normal", skipme=True)  # every other connection, ours included
    with pytest.raises(redis.exceptions.ConnectionError):
        sent.answers()
    assert r.ping()
