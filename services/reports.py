"""Citizen reports (`/report`, no account): the proof-of-work challenge, the submission (checked
by content, counted against the per-address and overall limits, opened as an incident from a
citizen report with its photos in the case file) and the public progress behind a tracking code.

What a citizen sees of a case is its stages and times, and a rejection's reason: never who was
sent, where they are, the notes or the photos. Photos go into the case file as sent (their
location metadata is evidence); nothing public shows them.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain import evidence as evidence_rules
from domain import incidents as model
from domain import personal
from services import incidents
from services.context import AppContext
from services.errors import Refused
from store import incidents as incident_store
from store import reports

CHALLENGE_TTL_S = 600
MAX_PHOTOS = 3
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone
CODE_LENGTH = 10  # 32^10 = 10^15: not guessable at any rate the limits allow
# What a citizen is told of each state (received, verified, sent, handled, closed, rejected)
STAGE = {
    model.State.REPORTED: "received",
    model.State.TRIAGED: "verified",
    model.State.ASSIGNED: "sent",
    model.State.EN_ROUTE: "sent",
    model.State.ON_SCENE: "sent",
    model.State.HANDLED: "handled",
    model.State.CLOSED: "closed",
    model.State.REJECTED: "rejected",
    model.State.TRANSFERRED: "transferred",
}


class CitizenReport(BaseModel):
    """The form's fields (the photos come beside them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: model.IncidentType
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    description: Annotated[str, Field(max_length=2000)] = ""
    phone: (
        Annotated[str, Field(max_length=personal.PHONE_MAX, pattern=personal.PHONE_PATTERN)] | None
    ) = None
    challenge: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    nonce: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]

    @field_validator("phone")
    @classmethod
    def _clean_phone(cls, v: str | None) -> str | None:
        return None if not v else personal.clean_phone(v)


def challenge(ctx: AppContext) -> dict[str, Any]:
    """A one-use challenge: find a nonce (decimal digits) whose SHA-256 of
    `challenge + ":" + nonce` starts with `bits` zero bits."""
    bits = ctx.settings.report_pow_bits
    token = reports.new_challenge(ctx.redis, CHALLENGE_TTL_S)
    return {"challenge": token, "bits": bits, "expires_in_s": CHALLENGE_TTL_S}


def solved(challenge_: str, nonce: str, bits: int) -> bool:
    digest = hashlib.sha256(f"{challenge_}:{nonce}".encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - bits) == 0 if bits else True


def solve(challenge_: str, bits: int) -> str:
    """A nonce for the challenge (what the page does with Web Crypto; for the simulator and
    tests)."""
    n = 0
    while not solved(challenge_, str(n), bits):
        n += 1
    return str(n)


def submit(
    ctx: AppContext, body: CitizenReport, photos: list[tuple[bytes, str]], addr: str
) -> dict[str, Any]:
    """Open the report as an incident and give its tracking code, or say why not."""
    s = ctx.settings
    if not reports.use_challenge(ctx.redis, body.challenge):
        raise Refused(422, "the challenge is unknown, expired or used: ask for a new one")
    if not solved(body.challenge, body.nonce, s.report_pow_bits):
        raise Refused(422, "the nonce does not solve the challenge")
    checked = _photos(photos)
    # open_incident checks this too; here it comes before the limits, so a report that could
    # not open is not counted against its address
    if not ctx.geo.in_coverage(body.lon, body.lat):
        raise Refused(422, "the place is outside the area this centre covers")
    admitted = reports.admit(
        ctx.redis, addr, ctx.now_ms(), s.report_limit_per_address, s.report_limit_per_hour
    )
    if admitted is not reports.Admitted.YES:
        raise _over_limit(ctx, admitted, addr)
    return open_report(ctx, body.type, body.lat, body.lon, body.description, body.phone, checked)


def open_report(
    ctx: AppContext,
    type_: model.IncidentType,
    lat: float,
    lon: float,
    description: str,
    phone: str | None,
    photos: list[tuple[bytes, str]],
    source: model.Source = model.Source.CITIZEN_REPORT,
) -> dict[str, Any]:
    """The incident a report opens (in the queue, to verify), its photos in the case file, and
    the tracking code; the simulator's reports and hotline tickets come in here too."""
    code = _new_code(ctx)
    by = f"citizen:{code}"  # the audit's actor: the report, not an account
    new = incidents.NewIncident(
        type=type_,
        source=source,
        lat=lat,
        lon=lon,
        description=description,
        reporter_phone=phone,
    )
    inc = incidents.open_incident(ctx, new, by)
    reports.save_tracking(ctx.redis, code, inc["id"])
    for data, name in photos:
        incidents.add_evidence(ctx, inc["id"], data, name, "", by)
    return {"code": code, "track_url": f"/report/track/{code}"}


def progress(ctx: AppContext, code: str) -> dict[str, Any]:
    """What a citizen may see of the case behind a tracking code."""
    code = code.strip().upper()  # read out over the phone: case and spaces do not matter
    incident_id = reports.tracked(ctx.redis, code) if _code_ok(code) else None
    inc = incident_store.read(ctx.redis, incident_id) if incident_id else None
    if inc is None:
        raise Refused(404, "no report has this tracking code")
    stages = []
    for t in incident_store.timeline(ctx.redis, str(incident_id)):
        try:
            stage = STAGE[model.State(t.get("to", ""))]
        except ValueError:
            continue
        if not stages or stages[-1]["stage"] != stage:
            stages.append({"stage": stage, "at_ms": t.get("at_ms")})
        if stage in ("rejected", "transferred"):
            stages[-1]["reason"] = str(t.get("reason") or "")
    return {
        "code": code,
        "type": inc.get("type"),
        "reported_ms": inc.get("created_ms"),
        "stage": stages[-1]["stage"] if stages else "received",
        "stages": stages,
    }


def _photos(photos: list[tuple[bytes, str]]) -> list[tuple[bytes, str]]:
    if len(photos) > MAX_PHOTOS:
        raise Refused(422, f"at most {MAX_PHOTOS} photos")
    for i, (data, name) in enumerate(photos, 1):
        try:
            ev = evidence_rules.accept(data, name)
        except evidence_rules.EvidenceRefused as e:
            raise Refused(422, f"photo {i}: {e}") from None
        if ev.media_type not in evidence_rules.INLINE_TYPES:
            raise Refused(422, f"photo {i}: a JPEG, PNG or WebP photo, please")
    return photos


def _over_limit(ctx: AppContext, admitted: reports.Admitted, addr: str) -> Refused:
    mine = admitted is reports.Admitted.ADDRESS_LIMIT
    oldest = reports.oldest_ms(ctx.redis, addr if mine else None)
    wait_s = max(1, ((oldest or ctx.now_ms()) + reports.HOUR_MS - ctx.now_ms()) // 1000)
    s = ctx.settings
    what = (
        f"{s.report_limit_per_address} reports an hour from one address"
        if mine
        else f"{s.report_limit_per_hour} reports an hour in all: the line is busy"
    )
    return Refused(
        429,
        f"at most {what}; try again in {wait_s // 60 + 1} min, or call 12345",
        retry_after_s=int(wait_s),
    )


def _code_ok(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)


def _new_code(ctx: AppContext) -> str:
    while True:  # a clash is a one in 10^15 event; the loop only makes it harmless
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if reports.reserve_tracking(ctx.redis, code):
            return code
