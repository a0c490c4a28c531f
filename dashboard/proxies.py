"""The client's address behind a reverse proxy, believed only from a proxy we were told of.

werkzeug's ProxyFix rewrites REMOTE_ADDR (and the scheme and host) from the X-Forwarded-*
headers of the last proxy hop. Applied to every request, it would let any client name its own
address in a header and step around sign-in throttling; so it applies only to requests whose
connection comes from one of the TRUSTED_PROXIES networks (docs/deploy.md, "4a. TLS").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxyFix:
    def __init__(self, app: Any, proxies: Iterable[Network]) -> None:
        self.plain = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0)
        self.proxies = tuple(proxies)

    def _trusted(self, remote: str | None) -> bool:
        try:
            addr = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        return any(addr in net for net in self.proxies)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        app = self.fixed if self._trusted(environ.get("REMOTE_ADDR")) else self.plain
        return app(environ, start_response)


def install(server: Any, proxies: Iterable[Network]) -> None:
    proxies = tuple(proxies)
    if proxies:
        server.wsgi_app = TrustedProxyFix(server.wsgi_app, proxies)
