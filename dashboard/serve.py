"""Serve the web app with gunicorn (several stateless workers; all state is in Redis)."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from config.settings import Settings
from dashboard.app import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self.settings.web_host}:{self.settings.web_port}")
        self.cfg.set("workers", self.workers)
        self.cfg.set("threads", 4)
        self.cfg.set("graceful_timeout", 3)
        self.cfg.set("accesslog", None)

    def load(self):
        return create_app(self.settings)


def serve(settings: Settings, workers: int = 2) -> None:
    print(f"web: http://{settings.web_host}:{settings.web_port}/", flush=True)
    _Gunicorn(settings, workers).run()
