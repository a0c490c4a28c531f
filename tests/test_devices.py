"""`python run.py devices add|list|revoke` as an administrator meets it, against a real Redis: the
password is printed once and only its hash is kept; bad or taken ids are refused."""

from __future__ import annotations

import datetime as dt

import pytest
import redis

from domain.clock import system_ms
from domain.devices import verify_secret
from domain.vocab import LOCAL_TZ
from embedded.processes import ServerProcess, free_port
from store import devices as roster
from tests.helpers import add_device, run_devices


def every_stored_value(r: redis.Redis) -> list[bytes]:
    """Every string, hash field and hash value in Redis."""
    values: list[bytes] = []
    for key in r.scan_iter():
        kind = r.type(key)
        if kind == b"string":
            values.append(r.get(key))
        elif kind == b"hash":
            for field, value in r.hgetall(key).items():
                values += [field, value]
        elif kind == b"set":
            values += list(r.smembers(key))
    return values


def local(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def test_add_prints_two_lines_and_keeps_only_a_hash(
    r: redis.Redis, redis_srv: ServerProcess
) -> None:
    before = system_ms()
    out = run_devices(redis_srv.port, "add", "U-7", "--kind", "unit")
    after = system_ms()

    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert out.stdout.endswith("\n") and len(lines) == 2, out.stdout
    assert lines[0] == "username: U-7"
    assert lines[1].startswith("password: ")
    secret = lines[1].removeprefix("password: ")
    assert len(secret) >= 32 and secret.strip() == secret
    assert "shown only now" in out.stderr  # the human's note goes to stderr, not to scripts

    device = roster.get(r, "U-7")
    assert device is not None and device.active
    assert (device.kind, device.source) == ("unit", "cli")
    assert before <= device.created_ms <= after
    assert device.secret_hash.startswith("$7$101$")  # mosquitto's PBKDF2-SHA512 format
    assert verify_secret(secret, device.secret_hash)
    assert not verify_secret(secret + "x", device.secret_hash)
    stored = every_stored_value(r)
    assert stored and not any(secret.encode() in value for value in stored)


def test_a_taken_id_is_refused_and_keeps_its_secret(
    r: redis.Redis, redis_srv: ServerProcess
) -> None:
    secret = add_device(redis_srv.port, "S-3", "sensor")

    for kind in ("sensor", "unit"):
        again = run_devices(redis_srv.port, "add", "S-3", "--kind", kind)
        assert again.returncode == 2
        assert again.stdout == ""
        assert "already exists" in again.stderr and "Traceback" not in again.stderr

    assert verify_secret(secret, roster.get(r, "S-3").secret_hash)


@pytest.mark.parametrize(
    ("device_id", "kind", "reason"),
    [
        ("U 8", "unit", "a device id has"),
        ("U/8", "unit", "a device id has"),
        ("+", "unit", "a device id has"),
        ("#", "unit", "a device id has"),
        ("x" * 65, "unit", "a device id has"),
        ("", "sensor", "a device id has"),
        ("U-8", "boat", "invalid choice"),
        ("console", "service", "a service account is one of"),
    ],
)
def test_invalid_ids_and_kinds_are_refused(
    r: redis.Redis, redis_srv: ServerProcess, device_id: str, kind: str, reason: str
) -> None:
    out = run_devices(redis_srv.port, "add", device_id, "--kind", kind)
    assert out.returncode == 2
    assert out.stdout == ""
    assert reason in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert roster.roster(r) == []


def test_revoke_then_list_shows_it_revoked(r: redis.Redis, redis_srv: ServerProcess) -> None:
    unit_secret = add_device(redis_srv.port, "U-1", "unit")
    add_device(redis_srv.port, "ingest", "service")

    out = run_devices(redis_srv.port, "revoke", "U-1")
    assert out.returncode == 0, out.stderr
    assert "U-1 revoked" in out.stdout

    u1 = roster.get(r, "U-1")
    assert not u1.active and u1.revoked_ms >= u1.created_ms
    assert not verify_secret(unit_secret, u1.secret_hash)  # the hash is gone

    listed = run_devices(redis_srv.port, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2  # one line per device, nothing else
    revoked = next(line for line in lines if line.startswith("U-1 "))
    active = next(line for line in lines if line.startswith("ingest "))
    assert revoked.split()[1:3] == ["unit", "revoked"]
    assert f"added {local(u1.created_ms)}" in revoked
    assert f"revoked {local(u1.revoked_ms)}" in revoked
    assert "source cli" in revoked
    assert active.split()[1:3] == ["service", "active"]
    assert "revoked -" in active
    assert "$7$" not in listed.stdout  # never a hash

    for again in ("U-1", "nobody", "bad id"):  # revoked already, unknown, invalid
        refused = run_devices(redis_srv.port, "revoke", again)
        assert refused.returncode == 2
        assert f"no active device {again!r}" in refused.stderr


def test_an_empty_roster_and_an_unreachable_redis(r: redis.Redis, redis_srv: ServerProcess) -> None:
    empty = run_devices(redis_srv.port, "list")
    assert empty.returncode == 0 and empty.stdout == "no devices in the roster\n"

    nowhere = run_devices(free_port(), "list")
    assert nowhere.returncode == 2
    assert "cannot reach Redis" in nowhere.stderr and "Traceback" not in nowhere.stderr
    assert len(nowhere.stderr.strip().splitlines()) == 1
