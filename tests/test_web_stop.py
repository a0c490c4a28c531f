"""A web process that stops (`python run.py web`, gunicorn, as deployed): its pushed streams end
at once, so their browsers resume on another process, and the live picture's builder gives its
lease back on the way out, so another process builds at once rather than after the lease lapses
(a restart or a rolling deploy would otherwise freeze every map for LEASE_S)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import redis
import requests

from embedded.processes import ServerProcess, free_port
from store import keys, users
from tests.helpers import PASSWORD, ROOT, wait_for
from tests.test_tls import _web_env


def _signed_in(base: str) -> requests.Session:
    s = requests.Session()
    form = s.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    signed = s.post(
        f"{base}/login",
        data={"csrf_token": token, "username": "duty", "password": PASSWORD, "next": "/"},
        headers={"Referer": f"{base}/login"},
        allow_redirects=False,
        timeout=30,
    )
    assert signed.status_code == 302, signed.text
    return s


def test_a_stopping_web_process_ends_its_streams_and_gives_the_picture_lease_back(
    redis_srv: ServerProcess, broker: ServerProcess, r: redis.Redis, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "web.log"
    env = _web_env(redis_srv.port, broker.port, tmp_path / "var", port)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "run.py", "web"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        wait_for(lambda: _answers(base), 90, "the web app")
        users.create_user(r, "duty", "operator", PASSWORD)
        stream = _signed_in(base).get(f"{base}/_stream/live", stream=True, timeout=60)
        assert stream.status_code == 200
        ended = threading.Event()
        events: list[bytes] = []
        cut: list[Exception] = []

        def read() -> None:  # to the stream's end, or its cut
            try:
                for line in stream.iter_lines():
                    if line.startswith(b"event:"):
                        events.append(line)
            except requests.RequestException as e:
                cut.append(e)
            finally:
                ended.set()

        threading.Thread(target=read, daemon=True).start()
        wait_for(lambda: b"event: picture" in events, 60, "the first picture")
        assert r.exists(keys.PICTURE_BUILDER)  # the process serving it builds

        proc.terminate()  # SIGTERM to gunicorn: a graceful stop
        assert ended.wait(30), "the stream did not end"
        assert not cut, cut  # ended by the server (the browser then resumes elsewhere), not cut
        assert proc.wait(timeout=30) == 0, log.read_text()
        # given back, not left to lapse (it would still be there for up to LEASE_S)
        assert not r.exists(keys.PICTURE_BUILDER), (r.pttl(keys.PICTURE_BUILDER), log.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/login", timeout=5).status_code == 200
    except requests.RequestException:
        return False
