"""Sign-in throttling over real HTTP (issue: hardening): parallel attempts cannot outrun the
count, the client's address comes from X-Forwarded-For only through a trusted proxy, and a
locked address does not keep an account's owner out from elsewhere."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
import requests

from config.settings import Settings
from store import users
from tests.helpers import PASSWORD, make_app, serve_app


def _form(base: str, headers: dict[str, str] | None = None) -> tuple[requests.Session, str]:
    """A browser's session holding the sign-in form's CSRF token."""
    s = requests.Session()
    s.headers.update(headers or {})
    page = s.get(f"{base}/login?next=/", timeout=10).text
    return s, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _sign_in(
    base: str, name: str, password: str, addr: str | None = None, next_url: str = "/"
) -> requests.Response:
    s, token = _form(base, {"X-Forwarded-For": addr} if addr else None)
    form = {"csrf_token": token, "username": name, "password": password, "next": next_url}
    return s.post(f"{base}/login", data=form, allow_redirects=False, timeout=30)


@pytest.fixture
def site(settings: Settings, r: redis.Redis, request: pytest.FixtureRequest) -> Iterator[str]:
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    overrides = getattr(request, "param", {})
    app = make_app(settings, login_max_failures=5, login_lockout_s=900, **overrides)
    yield from serve_app(app)


def test_16_parallel_wrong_attempts_get_at_most_5_password_checks(site: str) -> None:
    forms = [_form(site) for _ in range(16)]
    start = threading.Barrier(16)
    statuses: list[int] = []

    def attempt(s: requests.Session, token: str) -> None:
        form = {"csrf_token": token, "username": "chief", "password": "wrong", "next": "/"}
        start.wait()
        resp = s.post(f"{site}/login", data=form, allow_redirects=False, timeout=60)
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=attempt, args=f) for f in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    got = Counter(statuses)
    # 401: the password was checked and wrong; 429: refused before any check
    assert sum(got.values()) == 16 and set(got) <= {401, 429}, got
    assert got[401] == 5, got


@pytest.mark.parametrize("site", [{"trusted_proxies": "127.0.0.1"}], indirect=True)
def test_behind_a_trusted_proxy_20_failures_from_one_address_do_not_keep_the_owner_out(
    site: str,
) -> None:
    attacker, owner = "203.0.113.9", "198.51.100.7"
    codes = [_sign_in(site, "chief", f"guess-{i}", attacker).status_code for i in range(20)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    # the right password from the attacker's address still waits
    assert _sign_in(site, "chief", PASSWORD, attacker).status_code == 429
    # the owner signs in at once from another address, and lands on this site
    for next_url in ("//evil.example", "/\t/evil.example", "https://evil.example"):
        resp = _sign_in(site, "chief", PASSWORD, owner, next_url)
        assert resp.status_code == 302 and resp.headers["Location"] == "/", next_url


@pytest.mark.parametrize("site", [{"trusted_proxies": "10.0.0.0/8"}], indirect=True)
def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(site: str) -> None:
    # the test's own connection (127.0.0.1) is no trusted proxy: rotating the header does not
    # make 25 clients out of one; its address is locked after 4 x 5 failures on any accounts
    codes = [_sign_in(site, f"guess{i}", "wrong", f"198.51.100.{i}").status_code for i in range(25)]
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert _sign_in(site, "chief", PASSWORD, "198.51.100.200").status_code == 429
