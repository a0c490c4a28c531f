"""`run.py` as a user meets it: the whole system up and down, external servers, clear errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis
import requests

from embedded.processes import ServerProcess, free_port, mosquitto
from store import keys, reader
from tests.helpers import ROOT, wait_for

CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("REDIS_", "MQTT_", "EMBEDDED_", "WEB_", "DATA_DIR"))
}


def run_py(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, ("ingest",), "cannot reach Redis at 127.0.0.1:1"),
        ({"REDIS_URL": "http://x"}, ("ingest",), "setting REDIS_URL"),
        ({"MQTT_URL": "ftp://x"}, ("web",), "setting MQTT_URL"),
        ({"WEB_PORT": "99999"}, ("web",), "setting WEB_PORT"),
        ({}, ("bench", "nosuch"), "unknown benchmark 'nosuch'"),
        # the history goes into a running system: with none, say what to start
        (
            {"REDIS_URL": "redis://127.0.0.1:1/0"},
            ("simulate", "--history", "1d"),
            "start the system",
        ),
    ],
)
def test_bad_configuration_gives_one_clear_line(env: dict, args: tuple, expected: str) -> None:
    out = run_py(*args, env={**CLEAN_ENV, **env})
    assert out.returncode == 2
    assert expected in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unreachable_broker_gives_one_clear_line(redis_srv: ServerProcess) -> None:
    out = run_py(
        "ingest",
        env={
            **CLEAN_ENV,
            "REDIS_URL": f"redis://127.0.0.1:{redis_srv.port}/0",
            "MQTT_URL": "mqtt://127.0.0.1:1",
        },
    )
    assert out.returncode == 2
    assert "cannot reach the MQTT broker at 127.0.0.1:1" in out.stderr
    assert "MQTT_URL" in out.stderr and "Traceback" not in out.stderr


def get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())
    except OSError:
        return {}


class System:
    """`python run.py` as a process group we can Ctrl-C."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py")],
            env=env,
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def interrupt(self) -> float:
        """Ctrl-C; returns the seconds until the supervisor and every part have exited."""
        parts = self.descendants()
        start = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=15)
        _gone, alive = psutil.wait_procs(parts, timeout=15)
        assert not alive, f"left behind: {alive}"
        return time.monotonic() - start


def system_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **CLEAN_ENV,
        "DATA_DIR": str(tmp_path / "var"),
        "WEB_PORT": str(free_port()),
        "EMBEDDED_REDIS_PORT": str(free_port()),
        "EMBEDDED_MQTT_PORT": str(free_port()),
        **extra,
    }


def _reported_by_people(r: redis.Redis) -> bool:
    sources = [
        r.hget(keys.incident(i.decode()), "source") for i in r.zrange(keys.INCIDENTS_OPEN, 0, -1)
    ]
    return bool({b"citizen_report", b"hotline"} & set(sources))


def _the_demo_officer_moves_its_unit(web: str, tmp_path: Path, r: redis.Redis) -> None:
    """The printed demo officer signs in and sends a position as /field does: the embedded
    setup's worker applies it to the demo unit, whose profile the start handed over."""
    seeded = (tmp_path / "var" / "demo_accounts.txt").read_text().splitlines()
    password = next(line.split("\t")[2] for line in seeded if line.startswith("officer\t"))
    s = requests.Session()
    form = s.get(f"{web}/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    form_data = {"csrf_token": token, "username": "officer", "password": password, "next": "/"}
    signed = s.post(f"{web}/login", data=form_data, timeout=10)
    assert signed.url.endswith("/field") and "U-DP-F01" in signed.text
    now = int(time.time() * 1000)
    position = {"unit_id": "U-DP-F01", "seq": 1, "ts": now, "lat": 22.5205, "lon": 114.5405}
    headers = {"Idempotency-Key": "demo-0001", "X-CSRFToken": s.cookies["_csrf_token"]}
    sent = s.post(f"{web}/api/v1/field/position", json=position, headers=headers, timeout=10)
    assert sent.status_code == 202, sent.text
    unit = keys.state("unit", "U-DP-F01")
    wait_for(lambda: r.hget(unit, "lat") == b"22.5205", 20, "the demo officer's position")
    assert r.hget(unit, "name").decode() == "南澳外勤一组"


def test_whole_system_with_embedded_servers_up_healthy_down_and_up_again(tmp_path: Path) -> None:
    env = system_env(tmp_path)
    health = f"http://127.0.0.1:{env['WEB_PORT']}/healthz"
    started = time.monotonic()
    system = System(env, tmp_path / "run.log")
    try:
        body = wait_for(
            lambda: (b := get_json(health)).get("status") == "ok" and b, 60, "healthz ok"
        )
        first = body["messages"]["received"]
        m = wait_for(
            lambda: (m := get_json(health)["messages"])["received"] > first and m,
            20,
            "rising counts",
        )
        # every message the embedded setup takes is accounted for, as in production
        assert m["received"] == sum(
            m[k] for k in ("applied", "duplicate", "stale", "deadletter", "ignored")
        )
        wait_for(
            lambda: (
                (live := get_json(health)["live"])["units"] >= 60
                and live["vessels"] >= 150
                and live["sensors"] >= 6
            ),
            30,
            "the simulated units, vessels and sensors",
        )
        log = (tmp_path / "run.log").read_text()
        for line in ("redis", "broker", "ingest", "simulator", "web", "healthz"):
            assert line in log
        r = redis.Redis(port=int(env["EMBEDDED_REDIS_PORT"]))
        _the_demo_officer_moves_its_unit(f"http://127.0.0.1:{env['WEB_PORT']}", tmp_path, r)
        # within 2 minutes of the start, a citizen report or hotline ticket is in the queue
        wait_for(
            lambda: _reported_by_people(r),
            max(1.0, 120 - (time.monotonic() - started)),
            "a simulated citizen report or hotline ticket in the dispatch queue",
        )
    finally:
        seconds = system.interrupt()
    assert seconds < 10
    r = redis.Redis(port=int(env["EMBEDDED_REDIS_PORT"]))
    system = System(env, tmp_path / "run2.log")  # the state is kept across restarts
    try:
        wait_for(lambda: get_json(health).get("redis", {}).get("ok"), 60, "restart")
        assert reader.counts(r)["units"] >= 60
        assert (tmp_path / "var" / "redis").is_dir()
    finally:
        system.interrupt()


def test_external_servers_take_mosquitto_pub_and_owntracks(
    tmp_path: Path, redis_srv: ServerProcess, r: redis.Redis
) -> None:
    # its own broker: the simulator leaves retained profiles that other tests must not see
    broker = mosquitto(tmp_path / "mosquitto")
    owntracks = tmp_path / "owntracks.json"
    owntracks.write_text('{"devices": {"wang/phone": "U-OT-7"}}')
    env = system_env(
        tmp_path,
        REDIS_URL=f"redis://127.0.0.1:{redis_srv.port}/0",
        MQTT_URL=f"mqtt://127.0.0.1:{broker.port}",
        OWNTRACKS_MAP=str(owntracks),
        MQTT_CLIENT_ID="external-test",
    )
    system = System(env, tmp_path / "run.log")
    try:
        health = f"http://127.0.0.1:{env['WEB_PORT']}/healthz"
        wait_for(lambda: get_json(health).get("status") == "ok", 60, "healthz ok")
        log = (tmp_path / "run.log").read_text()
        assert "valkey" not in log and "amqtt" not in log  # no embedded server started
        now = int(time.time() * 1000)
        pos = json.dumps({"unit_id": "U-EXT-1", "seq": 1, "ts": now, "lat": 22.6, "lon": 114.4})
        ot = json.dumps({"_type": "location", "lat": 22.55, "lon": 114.5, "tst": now // 1000})
        for topic, payload in (
            ("ecocommand/units/U-EXT-1/position", pos),
            ("owntracks/wang/phone", ot),
        ):
            subprocess.run(
                ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topic, "-m", payload],
                check=True,
            )
        wait_for(
            lambda: (
                r.exists(keys.state("unit", "U-EXT-1")) and r.exists(keys.state("unit", "U-OT-7"))
            ),
            15,
            "both units in Redis",
        )
    finally:
        assert system.interrupt() < 10
        broker.stop()
