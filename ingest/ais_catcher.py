"""AIS-catcher JSON (MQTT MSGFORMAT JSON_NMEA / JSON_FULL, `-o 5`) read through a pydantic model.

Field names follow AIS-catcher's JSON documentation (gpsd-compatible): "class" ("AIS"; other
classes are counted as ignored), "rxtime" ("YYYYMMDDHHMMSS" UTC) / "rxuxtime" (unix seconds),
"mmsi", "type", "lat", "lon", "speed", "course", "heading", "status", "accuracy", "shipname",
"callsign", "shiptype", "imo", "destination", "to_bow", "to_stern", "to_port",
"to_starboard", "partno", and "nmea" (the raw sentences of the message). Unknown fields are
ignored: AIS-catcher adds fields between releases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ingest.ais_bits import (
    check_mmsi,
    check_position,
    clean,
    cog,
    dims,
    heading,
    ship_type_text,
    sog,
)
from ingest.ais_collect import Collector
from ingest.ais_nmea import epoch_ms
from ingest.ais_types import (
    CLASS_UNUSED,
    DECODE_ERROR,
    JSON_MALFORMED,
    NO_POSITION,
    NOT_TEXT,
    TYPE_UNUSED,
    AisBatch,
    Reject,
    VesselUpdate,
)


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value


def _whole(value: object) -> object:
    """AIS-catcher writes integers; 5.0 is accepted, 5.5 is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Num = Annotated[float | None, BeforeValidator(_no_bool)]
Int = Annotated[int | None, BeforeValidator(_whole), BeforeValidator(_no_bool)]


class CatcherMessage(BaseModel):
    """One AIS-catcher JSON object; numbers may come as JSON numbers or numeric strings."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    cls: Any = Field("AIS", alias="class")
    rxuxtime: Any = None  # read leniently by `time_ms`: a bad clock is no reason to drop it
    rxtime: Any = None
    nmea: list[str] | str | None = None
    type: Int = None
    mmsi: Int = None
    lat: Num = None
    lon: Num = None
    speed: Num = None
    course: Num = None
    heading: Int = None
    status: Int = None
    accuracy: bool | int | None = None
    shipname: str | None = None
    callsign: str | None = None
    destination: str | None = None
    shiptype: Int = None
    imo: Int = None
    to_bow: Int = None
    to_stern: Int = None
    to_port: Int = None
    to_starboard: Int = None
    partno: Int = None

    def time_ms(self) -> int | None:
        """rxuxtime (unix seconds, maybe fractional), else rxtime "YYYYMMDDHHMMSS" UTC."""
        ux = self.rxuxtime
        if isinstance(ux, int | float) and not isinstance(ux, bool):
            try:
                return epoch_ms(float(ux))
            except (ValueError, OverflowError):
                pass
        rx = self.rxtime
        if isinstance(rx, str) and len(rx) == 14 and rx.isdigit():
            try:
                t = dt.datetime.strptime(rx, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
            except ValueError:
                return None
            return int(t.timestamp()) * 1000
        return None

    def static(self, msg_type: int) -> dict[str, Any]:
        """The static fields of a type 5, 19 or 24, each keeping only what its type carries: a
        type 19 has no call sign, a type 24 part A only the name and part B all but the name."""
        code = self.shiptype or None
        hull = [v or 0 for v in (self.to_bow, self.to_stern, self.to_port, self.to_starboard)]
        out: dict[str, Any] = {
            "name": clean(self.shipname),
            "callsign": clean(self.callsign),
            "ship_type": code,
            "ship_type_text": ship_type_text(code),
            **dims(*hull),
        }
        if msg_type == 5:
            imo = self.imo or 0
            out["imo"] = imo if 1_000_000 <= imo <= 9_999_999 else None
            out["destination"] = clean(self.destination)
        elif msg_type == 19:
            del out["callsign"]
        elif self.partno == 0:
            out = {"name": out["name"]}
        elif self.partno == 1:
            del out["name"]
        return out

    def update(self, ts_ms: int, identity: str, seq: int) -> VesselUpdate | None:
        """From the decoded fields (no "nmea"), with the NMEA path's not-available rules."""
        msg_type = self.type
        if msg_type is None:
            raise Reject(JSON_MALFORMED, 'neither "nmea" nor "type"')
        if msg_type not in (1, 2, 3, 5, 18, 19, 24, 27):
            if not 1 <= msg_type <= 27:
                raise Reject(DECODE_ERROR, f"unknown message type {msg_type}")
            return None
        if self.mmsi is None:
            raise Reject(JSON_MALFORMED, 'no "mmsi"')
        check_mmsi(self.mmsi)
        static = self.static(msg_type) if msg_type in (5, 19, 24) else {}
        if msg_type in (5, 24):
            return VesselUpdate(self.mmsi, ts_ms, msg_type, "static", identity, seq=seq, **static)
        lat, lon = self.lat, self.lon
        if lat is None or lon is None:
            raise Reject(NO_POSITION, "position report without lat/lon")
        check_position(lat, lon)
        speed, course = self.speed, self.course
        if msg_type == 27:  # whole knots / degrees, 63 and 511 = not available
            sog_kn = None if speed is None or speed >= 63 else speed
            cog_deg = None if course is None or course >= 360 else course
        else:
            sog_kn = None if speed is None else sog(speed)
            cog_deg = None if course is None else cog(course)
        status = self.status
        return VesselUpdate(
            self.mmsi,
            ts_ms,
            msg_type,
            "position",
            identity,
            lat,
            lon,
            sog_kn,
            cog_deg,
            None if self.heading is None or msg_type == 27 else heading(self.heading),
            status
            if msg_type in (1, 2, 3, 27) and status is not None and 0 <= status <= 15
            else None,
            None if self.accuracy is None else bool(self.accuracy),
            seq=seq,
            **static,
        )


def _catcher_object(obj: object, raw: str, out: Collector) -> None:
    if not isinstance(obj, dict):
        out.reject(JSON_MALFORMED, raw, "JSON value is not an object")
        return
    if obj.get("class", "AIS") != "AIS":  # AIS-catcher also publishes e.g. ADS-B objects
        out.ignored.append(CLASS_UNUSED)
        return
    try:
        msg = CatcherMessage.model_validate(obj)
    except ValidationError as e:
        err = e.errors(include_url=False, include_input=False)[0]
        where = ".".join(map(str, err["loc"]))
        out.reject(JSON_MALFORMED, raw, f"{where}: {err['msg']}"[:300])
        return
    time_ms = msg.time_ms()
    out.line_no += 1
    if msg.nmea is not None:
        nmea = [msg.nmea] if isinstance(msg.nmea, str) else msg.nmea
        if not nmea:
            out.reject(JSON_MALFORMED, raw, '"nmea" is an empty list')
            return
        sub = Collector(out.received_ms, out.source, time_ms)
        sub.line_no = out.line_no - 1
        for line in nmea:
            sub.line(line.strip())
        result = sub.batch()
        out.line_no = sub.line_no
        out.updates += result.updates
        out.rejections += result.rejections
        out.fragments += result.fragments
        out.ignored += result.ignored
        return
    canon = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(canon.encode("utf-8", "replace"), digest_size=8).hexdigest()
    identity = digest if time_ms is None else f"{time_ms}-{digest}"
    seq = out.received_ms * 1000 + min(out.line_no, 999)
    try:
        upd = msg.update(out.received_ms if time_ms is None else time_ms, identity, seq)
    except Reject as r:
        out.reject(r.reason, raw, r.detail)
        return
    if upd is None:
        out.ignored.append(TYPE_UNUSED)
    else:
        out.updates.append(upd)


def _loads(text: str) -> tuple[object, str | None]:
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as e:
        return None, str(e)[:200] or type(e).__name__


def parse_aiscatcher_json(payload: bytes, received_ms: int, source: str) -> AisBatch:
    """Decode AIS-catcher JSON output: one object, a JSON array of objects, or JSON Lines.

    "nmea" is decoded with the NMEA code path, so results match `parse_payload` on the same
    sentences, except that rxuxtime (else rxtime), when present, replaces the tag-block time.
    Without "nmea" the decoded fields are used with the same not-available conventions and
    checks; their identity hashes the whole object. Unparseable JSON gives one
    "json_malformed" rejection.
    """
    out = Collector(received_ms, source)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        out.reject(NOT_TEXT, payload.decode("utf-8", "replace"), "payload is not UTF-8")
        return out.batch()
    if not text.strip():
        return out.batch()
    doc, err = _loads(text)
    if err is None:
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            raw = text.strip() if len(items) == 1 else json.dumps(item, default=str)
            _catcher_object(item, raw, out)
        return out.batch()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    parsed = [(line, *_loads(line)) for line in lines] if len(lines) > 1 else []
    if not any(e is None for _, _, e in parsed):  # one broken document, not JSON Lines
        out.reject(JSON_MALFORMED, text.strip(), err)
        return out.batch()
    for line, value, line_err in parsed:
        if line_err is not None:
            out.reject(JSON_MALFORMED, line, line_err)
        elif isinstance(value, list):
            for item in value:
                _catcher_object(item, json.dumps(item, default=str), out)
        else:
            _catcher_object(value, line, out)
    return out.batch()
