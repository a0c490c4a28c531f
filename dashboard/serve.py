"""Serve the web app with gunicorn (several stateless workers; all state is in Redis)."""

from __future__ import annotations

import signal
from typing import Any

from gunicorn.app.base import BaseApplication

from config.settings import Settings
from dashboard.app import create_app
from dashboard.background import stop_all, stopping
from infra.tls import check_pair

STREAM_THREADS = 64
# how long a stopping worker waits for its background threads: the picture builder gives its
# lease back within one read of the stream (1 s), under the graceful timeout (3 s)
STOP_WAIT_S = 2.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _on_worker_init(worker: Any) -> None:
    """A worker told to stop (SIGTERM: a graceful stop or a restart; SIGINT, SIGQUIT: at once)
    first tells its app: the pushed streams end, so their browsers resume on another worker
    rather than holding this one until the graceful timeout, and the background threads end."""
    app = worker.wsgi
    for sig in _STOP_SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            signal.signal(sig, _then(app, handler))


def _then(app: Any, handler: Any) -> Any:
    def stop_first(sig: int, frame: Any) -> None:
        stopping(app).set()
        handler(sig, frame)

    return stop_first


def _on_worker_exit(_server: Any, worker: Any) -> None:
    """The picture's builder gives its lease back before the process ends, so another worker
    builds at once instead of after the lease lapses (services/picture_relay.LEASE_S)."""
    stop_all(worker.wsgi, STOP_WAIT_S)


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self.settings.web_host}:{self.settings.web_port}")
        self.cfg.set("workers", self.workers)
        # gthread: each open map page holds one thread for its pushed stream
        # (dashboard/live_stream.py) while it waits; 64 per process serve a room of wall
        # screens and desks with the two processes' other requests besides
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", STREAM_THREADS)
        self.cfg.set("graceful_timeout", 3)
        self.cfg.set("accesslog", None)
        self.cfg.set("post_worker_init", _on_worker_init)
        self.cfg.set("worker_exit", _on_worker_exit)
        if self.settings.web_tls_cert is not None:  # HTTPS only: plain HTTP gets no answer
            self.cfg.set("certfile", str(self.settings.web_tls_cert))
            self.cfg.set("keyfile", str(self.settings.web_tls_key))

    def load(self):
        return create_app(self.settings)


def serve(settings: Settings, workers: int = 2) -> None:
    if settings.web_tls_cert is not None and settings.web_tls_key is not None:
        check_pair(settings.web_tls_cert, settings.web_tls_key, "WEB_TLS_CERT / WEB_TLS_KEY")
    print(f"web: {settings.web_url}", flush=True)
    _Gunicorn(settings, workers).run()
