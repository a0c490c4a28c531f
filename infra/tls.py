"""A certificate and its key, checked before a server is started on them."""

from __future__ import annotations

import ssl
from pathlib import Path


def check_pair(cert: Path, key: Path, settings: str) -> None:
    """Raises ValueError naming the `settings` when the pair cannot serve TLS: a key that is not
    the certificate's, a file this account cannot read, something other than PEM. Servers load
    the pair only when they open their listener (gunicorn: at each connection), so without this
    a wrong pair shows as a server that starts and then fails every client."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except OSError as e:  # ssl.SSLError is one
        raise ValueError(f"{settings} cannot be used: {e}") from None
