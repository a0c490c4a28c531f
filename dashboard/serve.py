"""Serve the web app with gunicorn (several stateless workers; all state is in Redis)."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from config.settings import Settings
from dashboard.app import create_app
from infra.tls import check_pair

STREAM_THREADS = 64


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
