"""The case file: notes and evidence on an incident over the API, with a real Redis and files on
disk. Duty chiefs add, everyone signed in reads; files are judged by their bytes, stored by
hash, served only for the incident that records them, and hostile input is refused whole."""

from __future__ import annotations

import hashlib
import io

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from domain.evidence import EvidenceRefused, accept, clean_name, media_type_of
from store import keys
from tests.helpers import NEW_INCIDENT, assert_matches_spec, client, png, post_json, signed_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _upload(
    c: FlaskClient,
    inc_id: str,
    data: bytes,
    name: str = "photo.png",
    caption: str = "",
    csrf: bool = True,
) -> tuple[int, dict]:
    cookie = c.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": cookie.value} if csrf and cookie else {}
    resp = c.post(
        f"/api/v1/incidents/{inc_id}/evidence",
        headers=headers,
        data={"file": (io.BytesIO(data), name), "caption": caption},
        content_type="multipart/form-data",
    )
    return resp.status_code, resp.get_json(silent=True) or {}


def _incident(chief: FlaskClient) -> str:
    status, inc = post_json(chief, "/api/v1/incidents", NEW_INCIDENT)
    assert status == 201
    return inc["id"]


# --- pure rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "media"),
    [
        (png(), "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (PDF, "application/pdf"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 8, "video/mp4"),
        (b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2mp41", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "video/quicktime"),  # iPhone
        # still images in the same container: an iPhone's HEIC photo, an AVIF
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heif"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/heif"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heix", "image/heif"),
        (b"<html><script>alert(1)</script>", None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"GIF89a", None),
        (b"", None),
    ],
)
def test_the_type_comes_from_the_bytes(data: bytes, media: str | None) -> None:
    assert media_type_of(data) == media


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd.png"),
        ("C:\\Users\\x\\现场 照片.JPG", "现场 照片.png"),
        ("evil.html", "evil.png"),
        ("", "evidence.png"),
        ("...", "evidence.png"),
        ("a\x00b\r\n.png", "a_b.png"),
        ("x" * 300 + ".png", "x" * 80 + ".png"),
    ],
)
def test_names_lose_directories_and_odd_characters_and_get_the_real_extension(
    name: str, cleaned: str
) -> None:
    assert clean_name(name, "image/png") == cleaned


def test_empty_unknown_and_oversized_files_are_refused() -> None:
    for data in (b"", b"<svg onload=alert(1)>", png() + b"\x00" * (15 * 1024 * 1024)):
        with pytest.raises(EvidenceRefused):
            accept(data, "x.png")
    with pytest.raises(EvidenceRefused, match="at most 15 MiB"):  # the limit as it is
        accept(png() + b"\x00" * (15 * 1024 * 1024), "x.png")
    # an iPhone's photo is named for what it is, never filed as a video
    with pytest.raises(EvidenceRefused, match="HEIF/HEIC or AVIF photo is not accepted"):
        accept(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "IMG.HEIC")
    clip = accept(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\x00" * 64, "IMG_1.MOV")
    assert (clip.media_type, clip.name) == ("video/quicktime", "IMG_1.mov")
    ev = accept(png(), "scene.png")
    assert (ev.sha256, ev.media_type, ev.name) == (
        hashlib.sha256(png()).hexdigest(),
        "image/png",
        "scene.png",
    )


# --- over HTTP -------------------------------------------------------------------------------


def test_chiefs_add_notes_everyone_reads_them(server: Flask) -> None:
    chief, operator = signed_in(server, "dispatcher"), signed_in(server, "operator")
    inc_id = _incident(chief)
    path = f"/api/v1/incidents/{inc_id}/notes"
    assert post_json(operator, path, {"text": "x"})[0] == 403
    assert post_json(signed_in(server, "leader"), path, {"text": "x"})[0] == 403
    assert post_json(client(server), path, {"text": "x"})[0] == 401
    assert post_json(chief, path, {"text": "x"}, csrf=False)[0] == 400
    status, note = post_json(chief, path, {"text": "  现场已拍照，等待执法队  "})
    assert status == 201, note
    assert_matches_spec(note, "/api/v1/incidents/{incident_id}/notes", "post", "201")
    assert note["durable"] is True
    detail = operator.get(f"/api/v1/incidents/{inc_id}").get_json()
    assert_matches_spec(detail, "/api/v1/incidents/{incident_id}")
    assert [(n["kind"], n["text"], n["by"]) for n in detail["notes"]] == [
        ("note", "现场已拍照，等待执法队", "dispatcher")
    ]
    assert [t["to"] for t in detail["timeline"]] == ["reported"]  # notes are not transitions


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 2001},
        {"text": 5},
        {"text": "x", "by": "admin"},
        ["x"],
        "text",
    ],
)
def test_bad_notes_are_refused_and_nothing_is_added(server: Flask, bad: object) -> None:
    chief = signed_in(server, "dispatcher")
    inc_id = _incident(chief)
    status, body = post_json(chief, f"/api/v1/incidents/{inc_id}/notes", bad)
    assert status in (400, 422) and body["error"], (status, body)
    assert chief.get(f"/api/v1/incidents/{inc_id}").get_json()["notes"] == []


def test_a_note_on_no_incident_is_404(server: Flask, r: redis.Redis) -> None:
    chief = signed_in(server, "dispatcher")
    assert post_json(chief, "/api/v1/incidents/INC-nope/notes", {"text": "x"})[0] == 404
    assert not list(r.scan_iter(keys.SHARED_TAG + "incident:*"))  # no stray notes stream either


def test_evidence_is_stored_by_hash_and_served_safely(server: Flask, settings: Settings) -> None:
    chief, operator = signed_in(server, "dispatcher"), signed_in(server, "operator")
    inc_id = _incident(chief)
    assert _upload(operator, inc_id, png())[0] == 403
    assert _upload(chief, inc_id, png(), csrf=False)[0] == 400
    status, ev = _upload(chief, inc_id, png(), "../现场.exe", caption="北侧排污口")
    assert status == 201, ev
    assert_matches_spec(ev, "/api/v1/incidents/{incident_id}/evidence", "post", "201")
    sha = hashlib.sha256(png()).hexdigest()
    assert (ev["sha256"], ev["name"], ev["media_type"], ev["caption"]) == (
        sha,
        "现场.png",
        "image/png",
        "北侧排污口",
    )
    stored = settings.data_dir / "evidence" / sha[:2] / sha
    assert stored.read_bytes() == png()

    resp = operator.get(ev["url"])
    assert resp.status_code == 200 and resp.data == png()
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert not resp.headers.get("Content-Disposition", "").startswith("attachment")
    # a PDF is a download, never rendered in our origin
    status, doc = _upload(chief, inc_id, PDF, "notice.pdf")
    assert status == 201
    assert operator.get(doc["url"]).headers["Content-Disposition"].startswith("attachment")

    # only files recorded on this incident are served
    other = _incident(chief)
    assert operator.get(f"/api/v1/incidents/{other}/evidence/{sha}").status_code == 404
    assert operator.get(f"/api/v1/incidents/{inc_id}/evidence/{'0' * 64}").status_code == 404
    assert operator.get(f"/api/v1/incidents/{inc_id}/evidence/..%2f..%2fx").status_code == 404
    assert client(server).get(ev["url"]).status_code == 401
    # the file lost from disk: said so, not a crash
    stored.unlink()
    assert operator.get(ev["url"]).status_code == 410


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", "empty.png"),
        (b"<html><script>alert(1)</script>", "photo.jpg"),
        (b"MZ\x90\x00" + b"\x00" * 100, "scan.pdf"),
        (b"GIF89a" + b"\x00" * 30, "a.gif"),
    ],
)
def test_files_that_are_not_evidence_are_refused_whole(
    server: Flask, settings: Settings, data: bytes, name: str
) -> None:
    chief = signed_in(server, "dispatcher")
    inc_id = _incident(chief)
    status, body = _upload(chief, inc_id, data, name)
    assert status == 422 and body["error"].startswith("file:"), (status, body)
    assert chief.get(f"/api/v1/incidents/{inc_id}").get_json()["notes"] == []
    assert not (settings.data_dir / "evidence").exists() or not any(
        p.is_file() for p in (settings.data_dir / "evidence").rglob("*")
    )


def test_uploads_without_a_file_too_big_or_on_no_incident(server: Flask) -> None:
    chief = signed_in(server, "dispatcher")
    inc_id = _incident(chief)
    cookie = chief.get_cookie("_csrf_token").value
    resp = chief.post(
        f"/api/v1/incidents/{inc_id}/evidence",
        headers={"X-CSRFToken": cookie},
        data={"caption": "no file"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and "file" in resp.get_json()["error"]
    huge = png() + b"\x00" * (server.config["MAX_CONTENT_LENGTH"] + 10)
    status, body = _upload(chief, inc_id, huge)
    assert status == 413 and "larger than" in body["error"]
    assert _upload(chief, inc_id, png(), caption="x" * 501)[0] == 422
    assert _upload(chief, "INC-nope", png())[0] == 404
    assert chief.get(f"/api/v1/incidents/{inc_id}").get_json()["notes"] == []
