"""A reply lost after Redis ran a command (a disk stall past the client's timeout, a network
drop) must not make the client run the command again: a note, an audit entry or a transition
would be taken twice, or answered as refused by its own first run. A real Redis behind a small
proxy that holds one reply past the web app's timeout."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from config.settings import Settings
from embedded.processes import ServerProcess
from services.context import build
from store import incidents

NOW = 1_790_000_000_000


class LateReplies:
    """Forwards to Redis; the reply after `hold_next()` comes `late_s` late."""

    def __init__(self, upstream_port: int, late_s: float) -> None:
        self.upstream, self.late_s, self.hold = upstream_port, late_s, False
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def hold_next(self) -> None:
        self.hold = True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and self.hold:
                    self.hold = False
                    time.sleep(self.late_s)  # the command ran; its answer is late
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def late(redis_srv: ServerProcess) -> Iterator[LateReplies]:
    proxy = LateReplies(redis_srv.port, late_s=3.0)  # the web app's client waits 2 s
    yield proxy
    proxy.close()


def test_a_note_whose_reply_was_lost_is_taken_once_and_the_caller_told(
    settings: Settings, r: redis.Redis, late: LateReplies
) -> None:
    ctx = build(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{late.port}/0"}))
    made = incidents.create(ctx.redis, {"type": "waste_dumping"}, "chief", NOW)
    incidents.add_note(ctx.redis, made.detail, "note", {"text": "到场"}, by="chief", at_ms=NOW)
    late.hold_next()  # (the script is loaded: the held reply is the note's own)
    with pytest.raises(redis.exceptions.TimeoutError):  # told: not known whether it was taken
        incidents.add_note(
            ctx.redis, made.detail, "note", {"text": "见到倾倒"}, by="chief", at_ms=NOW
        )
    time.sleep(1.5)  # the late reply has come (and gone nowhere)
    assert [n["text"] for n in incidents.notes(r, made.detail)] == ["到场", "见到倾倒"]  # once
