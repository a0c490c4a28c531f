"""Backup and restore: a backup taken from a running demo, restored into a fresh data folder,
gives the same incidents, units, audit verification and evidence files; a backup taken while
writes go on restores to one instant (every evidence file its notes name, an intact audit log);
restore refuses a tampered backup and a running target. Real Valkey servers started as
`python run.py` starts them (AOF, appendfsync always), the real commands, real files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from dashboard.security import secret_key
from domain.audit import Chain
from domain.clock import system_ms
from embedded.processes import ServerProcess, free_port, redis_server
from embedded.valkey import server_command
from embedded.valkey_rdb import ValkeyRdb
from infra.wait import wait_until
from ingest.audit_signer import HeadSigner
from services import accounts, audit, backup, live, restore, tracks
from services import incidents as inc
from services.backup_files import hash_file
from services.context import AppContext, build
from store import archive, keys
from store.backup import read_snapshot
from tests.helpers import NEW_INCIDENT, ROOT, png, write_available_unit

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
SETTINGS_FROM_ENV = ("REDIS_URL", "MQTT_URL", "DATA_DIR", "EMBEDDED_REDIS_PORT", "SECRET_KEY")


def embedded(data_dir: Path) -> Settings:
    """An embedded setup (no REDIS_URL) with its data folder and its own Redis port."""
    return Settings(
        redis_url=None, data_dir=data_dir, embedded_redis_port=free_port(), _env_file=None
    )


def start_redis(s: Settings) -> ServerProcess:
    """The embedded server on the setup's data folder, as `python run.py` starts it."""
    return redis_server(s.embedded_redis_dir, port=s.embedded_redis_port)


def run(s: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` for the setup, as its operator would type it."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_FROM_ENV}
    env |= {"DATA_DIR": str(s.data_dir), "EMBEDDED_REDIS_PORT": str(s.embedded_redis_port)}
    if s.redis_url:
        env["REDIS_URL"] = s.redis_url
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=s.data_dir.parent,
    )


def sign_heads(ctx: AppContext) -> None:
    """What the ingest worker does every few minutes: sign the audit chains' heads."""
    keep = {Chain.RECORD: 1_827, Chain.ACCESS: 366}
    HeadSigner(
        ctx.redis, ctx.settings.data_dir, every_s=300, keep_days=keep, clock=ctx.clock
    ).tick()


def populate(ctx: AppContext) -> None:
    """A small demo through the application: units reporting, an incident assigned with a
    note and two evidence files, another one open, the demo accounts, the cookie key and the
    audit log's signed heads."""
    write_available_unit(ctx.redis, "U-1", "foot", 22.525, 114.545)
    write_available_unit(ctx.redis, "U-2", "vehicle", 22.6, 114.45)
    first = inc.open_incident(ctx, inc.NewIncident(**NEW_INCIDENT), "chief")["id"]
    inc.assign_units(ctx, first, inc.Assignment(units=["U-1"]), "chief")
    inc.add_note(ctx, first, inc.Note(text="到场取证"), "chief")
    inc.add_evidence(ctx, first, png(4, 3), "现场.png", "北侧山坡", "chief")
    inc.add_evidence(ctx, first, PDF, "notice.pdf", "", "chief")
    inc.open_incident(ctx, inc.NewIncident(**{**NEW_INCIDENT, "priority": 3}), "chief")
    accounts.seed_demo(ctx.redis, ctx.settings.data_dir)
    secret_key(ctx.settings)
    sign_heads(ctx)
    # two days ago, in the track archive only (store/archive.py)
    hour = archive.floor_hour(system_ms() - 2 * 86_400_000)
    rows = [{"entity_id": "U-1", "stream_id": f"{hour + i}-0", "ts": hour + i * 60_000,
             "lat": 22.525, "lon": 114.545 + i / 1000} for i in range(3)]  # fmt: skip
    base = archive.root(ctx.settings.data_dir)
    archive.mark_written(ctx.redis, "unit", archive.write_hour(base, "unit", hour, rows))


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def state(ctx: AppContext) -> dict[str, Any]:
    """What the acceptance compares, read through the application (at a fixed "now", so
    clocks and ages compare), and every key and file besides."""
    data_dir = ctx.settings.data_dir
    details = {i["id"]: inc.detail(ctx, i["id"]) for i in inc.listing(ctx)}
    served = {
        n["sha256"]: inc.evidence_file(ctx, iid, n["sha256"])[0].read_bytes()
        for iid, d in details.items()
        for n in d["notes"]
        if n.get("kind") == "evidence"
    }
    return {
        "incidents": details,
        "units": live.entities(ctx, "unit"),
        "audit": [
            (rep.chain, rep.ok, rep.problem, rep.entries, rep.heads, rep.days)
            for rep in audit.verify(ctx.redis, data_dir)
        ],
        "evidence served": served,
        "evidence files": files_under(data_dir / "evidence"),
        "archive files": files_under(data_dir / "archive"),
        "archived track": tracks.points(ctx, "unit", "U-1", 0, ctx.now_ms()),
        "audit files": files_under(data_dir / "audit"),
        "secret_key": (data_dir / "secret_key").read_bytes(),
        "demo accounts": (data_dir / "demo_accounts.txt").read_bytes(),
        "keys": sorted(ctx.redis.keys()),
    }


def at(ctx: AppContext, now: int) -> AppContext:
    return dataclasses.replace(ctx, clock=lambda: now)


@dataclasses.dataclass
class Demo:
    backup: Path
    before: dict[str, Any]
    now: int
    out: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A running demo's state, and `python run.py backup` taken from it while it runs."""
    root = tmp_path_factory.mktemp("demo")
    s = embedded(root / "var")
    srv = start_redis(s)
    try:
        ctx = build(s)
        populate(ctx)
        now = system_ms()
        before = state(at(ctx, now))
        out = run(s, "backup", str(root / "backup"))
        assert out.returncode == 0, out.stdout + out.stderr
        assert state(at(ctx, now)) == before  # a backup changes nothing it copies
    finally:
        srv.stop()
    yield Demo(root / "backup", before, now, out)


def test_a_backup_restored_into_a_fresh_folder_gives_the_same_system(
    demo: Demo, tmp_path: Path
) -> None:
    lines = demo.out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "audit",
        "secret_key",
        "demo_accounts",
        "redis",
        "evidence",
        "archive",
    ]
    assert lines[-1].startswith(f"backup written to {demo.backup}: ")
    assert "evidence: 2 files" in demo.out.stdout
    manifest = json.loads((demo.backup / "manifest.json").read_text())
    assert manifest["redis"]["keys"] == len(demo.before["keys"])
    assert (demo.backup.stat().st_mode & 0o777) == 0o700  # it holds the signing key
    fresh = embedded(tmp_path / "fresh")
    out = run(fresh, "restore", str(demo.backup))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "replaced-" not in out.stdout  # a fresh folder: nothing moved aside
    srv = start_redis(fresh)
    try:
        after = state(at(build(fresh), demo.now))
    finally:
        srv.stop()
    for part, value in demo.before.items():
        assert after[part] == value, part
    assert all(ok for _c, ok, *_ in after["audit"]) and after["audit"][0][3] > 0
    assert sorted(after["evidence served"].values()) == sorted([png(4, 3), PDF])
    assert after["archived track"][2] == 3  # the positions kept in the archive only
    for name in ("secret_key", "demo_accounts.txt", "audit/ed25519.pem"):
        assert (fresh.data_dir / name).stat().st_mode & 0o777 == 0o600, name


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("part", ["evidence", "redis", "audit"])
def test_restore_refuses_a_tampered_backup_and_changes_nothing(
    demo: Demo, tmp_path: Path, part: str
) -> None:
    copy = tmp_path / "backup"
    shutil.copytree(demo.backup, copy)
    files = json.loads((copy / "manifest.json").read_text())["files"]
    victim = next(f["path"] for f in files if f["part"] == part)
    flip_a_byte(copy / victim)
    target = embedded(tmp_path / "var")
    out = run(target, "restore", str(copy))
    assert out.returncode == 2, out.stdout + out.stderr
    assert victim in out.stderr and "SHA-256 differs" in out.stderr, out.stderr
    assert not target.data_dir.exists()
    assert run(target, "restore", "--check", str(copy)).returncode == 2


def test_restore_refuses_a_running_target(demo: Demo, tmp_path: Path) -> None:
    target = embedded(tmp_path / "var")
    srv = start_redis(target)
    try:
        client = redis.Redis(port=target.embedded_redis_port)
        client.set("kept", "yes")
        out = run(target, "restore", str(demo.backup))
        assert out.returncode == 2 and "answers on the embedded Redis port" in out.stderr
        # the same data folder under another port setting: its server is still found
        elsewhere = target.model_copy(update={"embedded_redis_port": free_port()})
        out = run(elsewhere, "restore", str(demo.backup))
        assert out.returncode == 2 and f"(pid {srv.proc.pid})" in out.stderr, out.stderr  # type: ignore[union-attr]
        assert client.get("kept") == b"yes" and sorted(os.listdir(target.data_dir)) == ["redis"]
        client.close()
    finally:
        srv.stop()


def test_restore_over_an_older_state_moves_that_aside(demo: Demo, tmp_path: Path) -> None:
    target = embedded(tmp_path / "var")
    old = {
        "audit/heads.jsonl": b'{"old": true}\n',
        "evidence/ab/" + "ab" * 32: b"an older file",
        "redis/appendonlydir/appendonly.aof.manifest": b"file old seq 1 type b\n",
    }
    for rel, data in old.items():
        (target.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (target.data_dir / rel).write_bytes(data)
    lines: list[str] = []
    restore.restore(target, demo.backup, ValkeyRdb(), lines.append)
    (aside,) = target.data_dir.glob("replaced-*")
    assert {rel: (aside / rel).read_bytes() for rel in old} == old
    assert str(aside) in lines[-1]
    restored = target.data_dir / "audit/heads.jsonl"
    assert restored.read_bytes() == (demo.backup / "audit/heads.jsonl").read_bytes()
    assert files_under(target.data_dir / "evidence") == demo.before["evidence files"]
    assert list((target.data_dir / "redis" / "appendonlydir").glob("*.base.rdb"))
    assert not list(target.data_dir.glob(".restore-*"))  # the staging folder is gone


def test_backup_refuses_a_folder_that_holds_anything(tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(backup.BackupError, match="not an empty folder"):
        backup.take(embedded(tmp_path / "var"), dest, ValkeyRdb(), print)
    assert os.listdir(dest) == ["notes.txt"]


def test_backup_refuses_a_cluster_it_would_copy_one_master_of(
    valkey_cluster: Any, tmp_path: Path
) -> None:
    s = Settings(redis_url=valkey_cluster.url, data_dir=tmp_path / "var", _env_file=None)
    with pytest.raises(backup.BackupError, match="is a Redis Cluster: this command copies one"):
        backup.take(s, tmp_path / "backup", ValkeyRdb(), print)
    assert not (tmp_path / "backup").exists() or not os.listdir(tmp_path / "backup")


def test_a_backup_taken_under_writes_restores_to_one_instant(tmp_path: Path) -> None:
    """Incidents with evidence are opened and the audit heads signed the whole time the
    backup runs (the snapshot waits seconds for the fork): the restored system has every
    evidence file its notes name (evidence is copied after the snapshot), an audit log that
    verifies against the restored heads file (copied before it), and fewer incidents than
    were written in the end (the snapshot is of one instant, not of the end)."""
    s = embedded(tmp_path / "var")
    srv = start_redis(s)
    opened: list[str] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            n = len(opened)
            body = inc.NewIncident(**{**NEW_INCIDENT, "description": f"report {n}"})
            iid = inc.open_incident(ctx, body, "chief")["id"]
            inc.add_evidence(ctx, iid, png(n + 1, 1), f"{n}.png", "", "chief")
            ctx.redis.delete(*(keys.audit_signer(c.value) for c in Chain))  # another period
            sign_heads(ctx)
            opened.append(iid)
            stop.wait(0.01)

    try:
        ctx = build(s)
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        assert wait_until(lambda: len(opened) >= 3, 30)
        backup.take(s, tmp_path / "backup", ValkeyRdb(), print)
        written = len(opened)
        assert wait_until(lambda: len(opened) > written, 30)
    finally:
        stop.set()
        writer.join(timeout=30)
        srv.stop()
    fresh = embedded(tmp_path / "fresh")
    restore.restore(fresh, tmp_path / "backup", ValkeyRdb(), print)
    srv = start_redis(fresh)
    try:
        ctx = build(fresh)
        reports = audit.verify(ctx.redis, fresh.data_dir)
        restored = [i["id"] for i in inc.listing(ctx)]
        named = [
            (iid, n["sha256"])
            for iid in restored
            for n in inc.detail(ctx, iid)["notes"]
            if n.get("kind") == "evidence"
        ]
        served = {sha: inc.evidence_file(ctx, iid, sha)[0].read_bytes() for iid, sha in named}
    finally:
        srv.stop()
    assert all(rep.ok for rep in reports), [rep.problem for rep in reports]
    assert 3 <= len(restored) < len(opened) and set(restored) <= set(opened)
    # each incident gets one file; only the one being written at the fork may lack its note
    assert len(restored) - 1 <= len(named) <= len(restored)
    assert all(hashlib.sha256(data).hexdigest() == sha for sha, data in served.items())


def test_an_external_redis_with_a_password(tmp_path: Path) -> None:
    """REDIS_URL with a password: backed up without the password in the manifest; restore
    refuses while that Redis holds keys, and with --force restores the files and says how to
    restore Redis on its host, leaving the server alone."""
    port = free_port()
    argv = [*server_command(port, tmp_path / "redis-host"), "--requirepass", "s3cret-pw"]
    srv = ServerProcess(argv, port, "redis").start()
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        client.mset({f"k{i}": i for i in range(100)})
        s = Settings(redis_url=url, data_dir=tmp_path / "var", _env_file=None)
        (s.data_dir / "evidence" / "ab").mkdir(parents=True)
        (s.data_dir / "evidence" / "ab" / "ab1").write_bytes(b"evidence")
        manifest = backup.take(s, tmp_path / "backup", ValkeyRdb(), print)
        assert manifest["redis"]["keys"] == 100
        assert manifest["source"]["redis"] == f"redis://:***@127.0.0.1:{port}/0"
        assert "s3cret-pw" not in (tmp_path / "backup" / "manifest.json").read_text()
        target = s.model_copy(update={"data_dir": tmp_path / "restored"})
        out = run(target, "restore", str(tmp_path / "backup"))
        assert out.returncode == 2 and "holds 100 keys" in out.stderr, out.stderr
        out = run(target, "restore", "--force", str(tmp_path / "backup"))
        assert out.returncode == 0, out.stderr
        assert (
            "redis: NOT restored here" in out.stdout and "CONFIG SET appendonly yes" in out.stdout
        )
        assert (target.data_dir / "evidence" / "ab" / "ab1").read_bytes() == b"evidence"
        assert not (target.data_dir / "redis").exists() and client.dbsize() == 100
        client.close()
    finally:
        srv.stop()


def test_the_sized_form_of_a_snapshot_is_read_too(tmp_path: Path) -> None:
    """Redis 6, or Redis 7 with `repl-diskless-sync no`, answers SYNC with the saved file and
    its length (`$<length>`) instead of a stream up to an end mark; Valkey answers so a
    replica that does not announce `capa eof`, which is how a real one is had here."""
    s = embedded(tmp_path / "var")
    srv = start_redis(s)
    try:
        redis.Redis(port=s.embedded_redis_port).mset({f"k{i}": i for i in range(50)})
        with (
            socket.create_connection(("127.0.0.1", s.embedded_redis_port)) as sock,
            sock.makefile("rb") as reader,
        ):
            sock.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$8\r\nrdb-only\r\n$1\r\n1\r\n")
            assert reader.readline() == b"+OK\r\n"
            sock.sendall(b"*1\r\n$4\r\nSYNC\r\n")
            copy = read_snapshot(reader, tmp_path / "dump.rdb")
    finally:
        srv.stop()
    assert copy.transfer == "disk" and copy.header.startswith(("REDIS", "VALKEY"))
    assert (copy.size, copy.sha256) == hash_file(tmp_path / "dump.rdb")
    assert ValkeyRdb().count(tmp_path / "dump.rdb").in_file == 50
