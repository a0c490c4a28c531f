"""Issue 19, several web hosts: each has its own DATA_DIR, and EVIDENCE_DIR names the folder
they all mount. A photo attached through one host is stored there, by its SHA-256, and served
by the other; without the shared folder the other host would answer 410 (file lost)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import redis
from flask.testing import FlaskClient
from pydantic import SecretStr

from config.settings import Settings
from store import users
from tests.helpers import NEW_INCIDENT, PASSWORD, make_app, png, post_json, signed_in


def _upload(c: FlaskClient, inc_id: str, data: bytes) -> tuple[int, dict]:
    resp = c.post(
        f"/api/v1/incidents/{inc_id}/evidence",
        headers={"X-CSRFToken": c.get_cookie("_csrf_token").value},
        data={"file": (io.BytesIO(data), "photo.png"), "caption": ""},
        content_type="multipart/form-data",
    )
    return resp.status_code, resp.get_json(silent=True) or {}


def test_evidence_uploaded_on_one_web_host_is_served_by_another(
    settings: Settings, r: redis.Redis, tmp_path: Path
) -> None:
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    shared = tmp_path / "nfs" / "evidence"
    same = {"evidence_dir": shared, "secret_key": SecretStr("one key for every web host")}
    one = make_app(settings, data_dir=tmp_path / "host-1", **same)
    two = make_app(settings, data_dir=tmp_path / "host-2", **same)
    alone = make_app(settings, data_dir=tmp_path / "host-3")  # no EVIDENCE_DIR

    chief_one = signed_in(one, "chief")
    status, inc = post_json(chief_one, "/api/v1/incidents", NEW_INCIDENT)
    assert status == 201
    status, ev = _upload(chief_one, inc["id"], png())
    assert status == 201, ev

    sha = hashlib.sha256(png()).hexdigest()
    assert (shared / sha[:2] / sha).read_bytes() == png()
    assert not (tmp_path / "host-1" / "evidence").exists()

    resp = signed_in(two, "chief").get(ev["url"])
    assert resp.status_code == 200 and resp.data == png()
    # a host with its own DATA_DIR/evidence has the record (Redis) but not the file
    assert signed_in(alone, "chief").get(ev["url"]).status_code == 410


def test_backup_says_when_evidence_lives_outside_it(settings: Settings, tmp_path: Path) -> None:
    from services.backup import _note
    from services.backup_files import PARTS

    evidence = next(p for p in PARTS if p.name == "evidence")
    assert _note(settings, evidence) == ""
    inside = settings.model_copy(update={"evidence_dir": settings.data_dir / "evidence"})
    assert _note(inside, evidence) == ""
    outside = settings.model_copy(update={"evidence_dir": tmp_path / "nfs"})
    assert "EVIDENCE_DIR" in _note(outside, evidence) and "not copied" in _note(outside, evidence)
