"""Simulated vessels in Dapeng Bay and Daya Bay, reported as raw AIS NMEA as receivers emit it.

Fishing boats, leisure craft and tugs roam a bay between random sea waypoints; container ships,
cargo ships and tankers follow lanes to Yantian or the Daya Bay ports, anchor, leave and come
back later; ferries shuttle on fixed lanes. Class A vessels send type 1 positions and two-part
type 5 static data; class B send type 18 and type 24 parts A and B. Three shore receivers hear
them on channels A and B; a payload holds one or more lines, sometimes with a `\\c:` tag block.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import string
from dataclasses import dataclass, field
from typing import Any

from pyais.encode import encode_dict

from domain.geo import Geography, LonLat, bearing_deg, haversine_m, move_towards

KNOT_MS = 1852.0 / 3600.0
# Shore receivers (lon, lat) and how often each prefixes its lines with a tag block.
RECEIVERS: dict[str, LonLat] = {
    "rx-kuichong": (114.40, 22.61),
    "rx-dapeng": (114.56, 22.60),
    "rx-nanao": (114.52, 22.46),
}
TAG_BLOCK_P = {"rx-kuichong": 0.0, "rx-dapeng": 1.0, "rx-nanao": 0.3}
P_SECOND_RECEIVER = 0.05  # the same transmission heard twice, as real networks deliver it
P_MERGE = 0.4  # chance the next message shares the payload with the previous one
MAX_LINES = 6
P_SPLIT_MULTIPART = 0.15  # type 5 parts sent as two payloads instead of one
SILENCE_EVERY_MS = 12 * 3600_000  # mean time between a vessel's silent spells (AIS gaps)
SILENT_MS = (120_000, 480_000)  # a receiver's patchy coverage: under the AIS-gap threshold
# A fifth of the spells are a transponder switched off for longer than AIS_GAP_MINUTES' default
# (10 min), so the demo shows the vessel watch's ais_gap alerts (ingest/vessel_watch.py)
P_DARK = 0.2
DARK_MS = (12 * 60_000, 30 * 60_000)
P_ZONE = {"fishing": 0.02, "leisure": 0.01}  # per new waypoint: head into a zone
STATIC_MS = (300_000, 420_000)

# Sea lanes (lon, lat), from the bay mouth inwards; checked to stay at sea by the tests.
LANES: dict[str, list[LonLat]] = {
    "yantian": [(114.44, 22.43), (114.325, 22.55), (114.28, 22.57)],
    "huizhou": [(114.73, 22.43), (114.66, 22.72)],
    "aotou": [(114.66, 22.43), (114.66, 22.635), (114.605, 22.71), (114.58, 22.735)],
    "ferry_dapeng_bay": [(114.30, 22.575), (114.445, 22.555), (114.465, 22.535)],
    "ferry_daya_bay": [
        (114.57, 22.72),
        (114.595, 22.72),
        (114.60, 22.68),
        (114.595, 22.665),
        (114.60, 22.58),
    ],
}


@dataclass(frozen=True)
class Role:
    name: str
    count: int
    ais_class: str  # "A" or "B"
    ship_types: tuple[int, ...]
    cruise_kn: tuple[float, float]
    where: tuple[str, ...]  # sea areas to roam, or lanes to follow
    lane: bool = False
    mids: tuple[int, ...] = (413,)


FLEET: tuple[Role, ...] = (
    Role("fishing", 24, "A", (30,), (6.0, 9.0), ("dapeng_bay", "daya_bay"), mids=(413, 412)),
    Role("fishing", 52, "B", (30,), (6.0, 9.0), ("dapeng_bay", "daya_bay"), mids=(413, 412, 414)),
    Role(
        "leisure",
        44,
        "B",
        (37, 37, 36),
        (6.0, 22.0),
        ("dapeng_bay", "dapeng_bay", "daya_bay"),
        mids=(413, 414, 477, 477),
    ),
    Role("tug", 6, "A", (52,), (5.0, 10.0), ("daya_bay",)),
    Role(
        "container",
        6,
        "A",
        (70, 79),
        (11.0, 15.0),
        ("yantian",),
        lane=True,
        mids=(477, 413, 636, 563, 538, 371),
    ),
    Role("cargo", 8, "A", (70, 79), (9.0, 13.0), ("aotou",), lane=True, mids=(413, 414, 477)),
    Role(
        "tanker",
        10,
        "A",
        (80, 81, 84),
        (9.0, 13.0),
        ("huizhou",),
        lane=True,
        mids=(413, 477, 636, 538),
    ),
    Role(
        "ferry", 4, "A", (60, 69), (14.0, 20.0), ("ferry_dapeng_bay", "ferry_daya_bay"), lane=True
    ),
)
DIMS = {  # (to_bow, to_stern, to_port, to_starboard) ranges in metres
    "fishing": ((12, 28), (4, 10), (2, 4), (2, 4)),
    "leisure": ((6, 18), (2, 5), (1, 3), (1, 3)),
    "tug": ((20, 26), (8, 10), (5, 6), (5, 6)),
    "container": ((200, 260), (40, 60), (16, 22), (16, 22)),
    "cargo": ((80, 140), (15, 30), (8, 12), (8, 12)),
    "tanker": ((120, 210), (25, 40), (12, 22), (12, 22)),
    "ferry": ((25, 40), (8, 12), (4, 6), (4, 6)),
}
DRAUGHT_M = {
    "fishing": (2.0, 4.0),
    "tug": (3.5, 4.5),
    "container": (10.0, 14.0),
    "cargo": (6.0, 10.0),
    "tanker": (8.0, 14.0),
    "ferry": (2.0, 3.0),
}
DESTINATIONS = {
    "container": "CNYTN",
    "cargo": "CNHUI AOTOU",
    "tanker": "CNHUI",
    "tug": "HUIZHOU",
    "fishing": "DAPENG",
    "ferry_dapeng_bay": "NANAO",
    "ferry_daya_bay": "AOTOU",
}
DWELL_S = {
    "fishing": (0, 300),
    "leisure": (300, 1200),
    "tug": (300, 1800),
    "container": (1200, 3600),
    "cargo": (1200, 5400),
    "tanker": (1800, 5400),
    "ferry": (300, 900),
}
LEG_M = {"fishing": (1_500.0, 6_000.0), "leisure": (2_000.0, 8_000.0), "tug": (1_000.0, 5_000.0)}
NAV_UNDERWAY, NAV_ANCHORED, NAV_MOORED, NAV_FISHING = 0, 1, 5, 7
# Type 18 flags of a carrier-sense class B unit with DSC, whole band and message 22 support.
CLASS_B_CS = {"type": 18, "cs": True, "dsc": True, "band": True, "msg22": True, "radio": 917510}


@dataclass
class Vessel:
    mmsi: int
    name: str
    callsign: str
    role: str
    ais_class: str
    ship_type: int
    where: str
    lane: bool
    dims: tuple[int, int, int, int]
    imo: int
    draught: float
    destination: str
    cruise_kn: tuple[float, float]
    has_heading: bool
    pos: LonLat
    prev: LonLat  # where the current leg began: always reachable again by the same segment
    target: LonLat | None = None
    route: list[LonLat] = field(default_factory=list)
    inbound: bool = True
    speed_kn: float = 0.0
    course: float = 0.0
    nav_status: int = NAV_UNDERWAY
    dwell_until_ms: int = 0
    silent_until_ms: int = 0
    last_ms: int | None = None
    working: bool = False  # fishing boats alternate transit legs and slow working legs
    failures: int = 0


def _vdm(data: dict[str, Any], channel: str, seq_id: int | None = None) -> list[str]:
    """!AIVDM sentences (as a receiver hears other ships) for one message."""
    return encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel=channel,
                       seq_id=seq_id)  # fmt: skip


def tag_block(unix_s: int) -> str:
    """A receiver's NMEA 4.10 tag block carrying the receive time, e.g. `\\c:1700000000*5B\\`."""
    body = f"c:{unix_s}"
    cs = 0
    for ch in body.encode("ascii"):
        cs ^= ch
    return f"\\{body}*{cs:02X}\\"


def _imo(rng: random.Random) -> int:
    digits = [9, *(rng.randint(0, 9) for _ in range(5))]
    check = sum(d * w for d, w in zip(digits, range(7, 1, -1), strict=True)) % 10
    return int("".join(map(str, digits)) + str(check))


# Call-sign prefix, then how many letters and digits follow, by MMSI country code (MID).
_CALLSIGNS = {
    477: ("VR", 2, 1),  # Hong Kong
    636: ("A8", 3, 1),  # Liberia
    563: ("9V", 0, 4),  # Singapore
    538: ("V7", 2, 1),  # Marshall Islands
    371: ("3E", 3, 1),  # Panama
}


def _callsign(rng: random.Random, mid: int) -> str:
    prefix, letters, digits = _CALLSIGNS.get(mid, ("B" + rng.choice("PQRSTUVWXYZ"), 2, 1))  # China
    return (prefix + "".join(rng.choices(string.ascii_uppercase, k=letters))
            + "".join(rng.choices(string.digits, k=digits)))  # fmt: skip


_WORDS_A = ("SEA", "BLUE", "JADE", "PEARL", "OCEAN", "LUCKY", "GOLDEN", "SILVER", "SUNNY",
            "ISLAND", "HARBOUR", "EASTERN")  # fmt: skip
_WORDS_B = ("BREEZE", "STAR", "DRAGON", "WIND", "SPIRIT", "HARMONY", "DREAM", "WAVE", "ORCHID",
            "PHOENIX", "LOTUS", "SWALLOW")  # fmt: skip


def _name(rng: random.Random, role: str, where: str, mid: int) -> str:
    n = rng.randint
    if role == "fishing":
        port = "SHEN" if where == "dapeng_bay" else rng.choice(("HUI", "SHEN"))
        return f"YUE {port} YU {n(30000, 39999):05d}"
    if role == "leisure":
        if mid == 477:
            return f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}{rng.choice(('', ' II', ' 3'))}"
        return f"SHEN YOU {n(100, 999)}"
    if role == "tug":
        return f"HUI GANG TUO {n(1, 30)}"
    if role == "container":
        return f"{rng.choice(('ORIENT', 'SINO', 'ASIA', 'GREAT'))} {rng.choice(_WORDS_B)}"
    if role == "cargo":
        return f"{rng.choice(('XIN HAI', 'HUA YANG', 'MIN HANG', 'TONG DA'))} {n(1, 99)}"
    if role == "tanker":
        return f"{rng.choice(('NAN HAI', 'HUI RONG', 'DA YA WAN', 'XIN RONG'))} YOU {n(1, 60)}"
    return f"{rng.choice(('PENG CHENG', 'NAN AO', 'DA PENG', 'AO TOU'))} {n(1, 9)}"


class VesselFleet:
    """All vessels and their AIS output; deterministic for a given rng."""

    def __init__(
        self,
        geo: Geography,
        rng: random.Random,
        multiplier: int = 1,
        interval_scale: float = 1.0,
    ) -> None:
        self.geo = geo
        self.rng = rng
        self.interval_scale = interval_scale
        self.vessels: list[Vessel] = []
        self._seq_ids = dict.fromkeys(RECEIVERS, 0)
        self._zones_by_area = {
            area: [p["id"] for p, g in geo.zones if g.intersects(geo.sea_areas[area])]
            for area in ("dapeng_bay", "daya_bay")
        }
        used_mmsi: set[int] = set()
        used_names: set[str] = set()
        for _ in range(multiplier):
            for role in FLEET:
                for i in range(role.count):
                    self.vessels.append(
                        self._make(role, role.where[i % len(role.where)], used_mmsi, used_names)
                    )

    def _make(self, role: Role, where: str, used_mmsi: set[int], used_names: set[str]) -> Vessel:
        rng = self.rng
        mid = rng.choice(role.mids)
        mmsi = mid * 1_000_000 + rng.randint(100_000, 999_999)
        while mmsi in used_mmsi:
            mmsi += 1
        used_mmsi.add(mmsi)
        name = _name(rng, role.name, where, mid)
        for attempt in itertools.count(2):
            if name not in used_names:
                break
            # Small name pools run out at high rates: number the repeats (AIS names <= 20).
            name = f"{_name(rng, role.name, where, mid)[:16]} {attempt}"
        used_names.add(name)
        bow, stern, port, stbd = (rng.randint(*r) for r in DIMS[role.name])
        commercial = role.ais_class == "A" and role.name not in ("fishing", "tug")
        has_callsign = role.ais_class == "A" or rng.random() < 0.5
        v = Vessel(
            mmsi=mmsi,
            name=name,
            callsign=_callsign(rng, mid) if has_callsign else "",
            role=role.name,
            ais_class=role.ais_class,
            ship_type=rng.choice(role.ship_types),
            where=where,
            lane=role.lane,
            dims=(bow, stern, port, stbd),
            imo=_imo(rng) if commercial else 0,
            draught=round(rng.uniform(*DRAUGHT_M.get(role.name, (1.0, 2.0))), 1),
            destination=DESTINATIONS.get(where, DESTINATIONS.get(role.name, "")),
            cruise_kn=role.cruise_kn,
            has_heading=role.ais_class == "A" or rng.random() < 0.5,
            pos=(0.0, 0.0),
            prev=(0.0, 0.0),
            course=rng.uniform(0, 359),
        )
        if role.lane:
            lane = LANES[where]
            i = rng.randrange(len(lane) - 1)
            a, b = lane[i], lane[i + 1]
            f = rng.random()
            v.pos = (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
            v.inbound = rng.random() < 0.5
            v.route = list(lane[i + 1 :]) if v.inbound else list(reversed(lane[: i + 1]))
            v.prev = a if v.inbound else b
            v.target = v.route.pop(0)
            v.speed_kn = rng.uniform(*role.cruise_kn)
        else:
            v.pos = v.prev = self.geo.random_sea_point(rng, where)
        return v

    # -- scheduling ------------------------------------------------------------------------------

    def next_position_ms(self, v: Vessel) -> int:
        moving = v.speed_kn > 0.5 and v.target is not None
        if v.ais_class == "A":
            base = self.rng.randint(6_000, 12_000) if moving else self.rng.randint(150_000, 210_000)
        else:
            base = (
                self.rng.randint(27_000, 33_000) if moving else self.rng.randint(170_000, 190_000)
            )
        return max(1, int(base * self.interval_scale))

    def next_static_ms(self) -> int:
        return max(1, int(self.rng.randint(*STATIC_MS) * self.interval_scale))

    # -- reports ---------------------------------------------------------------------------------

    def position(self, v: Vessel, now_ms: int) -> list[tuple[str, list[str]]]:
        """Advance the vessel to now_ms; (receiver, lines) of its position report, if heard."""
        elapsed = now_ms - (v.last_ms if v.last_ms is not None else now_ms)
        self._advance(v, now_ms)
        if now_ms < v.silent_until_ms:
            return []
        # A hazard per unit of time, so silences do not depend on how often a vessel reports.
        if self.rng.random() < elapsed / SILENCE_EVERY_MS:
            spell = DARK_MS if self.rng.random() < P_DARK else SILENT_MS
            v.silent_until_ms = now_ms + self.rng.randint(*spell)
            return []
        moving = v.target is not None and now_ms >= v.dwell_until_ms
        speed = round(v.speed_kn, 1) if moving else 0.0
        heading = round(v.course + self.rng.gauss(0, 2)) % 360 if v.has_heading else 511
        data: dict[str, Any] = {
            "mmsi": v.mmsi,
            "speed": speed,
            "accuracy": True,
            "lon": v.pos[0],
            "lat": v.pos[1],
            "course": round(v.course, 1) % 360.0,
            "heading": heading,
            "second": (now_ms // 1000) % 60,
        }
        if v.ais_class == "A":
            data |= {"type": 1, "status": v.nav_status, "radio": self.rng.randint(0, 2**19 - 1)}
        else:
            data |= CLASS_B_CS
        lines = _vdm(data, self.rng.choice("AB"))
        return [(rx, lines) for rx in self._receivers(v.pos)]

    def static(self, v: Vessel, now_ms: int) -> list[tuple[str, list[str]]]:
        """Static and voyage data (type 5, or type 24 A and B); one lines-group per message."""
        if now_ms < v.silent_until_ms:
            return []
        channel = self.rng.choice("AB")
        dims = dict(zip(("to_bow", "to_stern", "to_port", "to_starboard"), v.dims, strict=True))
        ident = {"mmsi": v.mmsi, "callsign": v.callsign, "ship_type": v.ship_type, **dims}
        out: list[tuple[str, list[str]]] = []
        for rx in self._receivers(v.pos):
            if v.ais_class == "A":
                eta = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC)
                eta += dt.timedelta(hours=self.rng.randint(2, 30))
                data = {"type": 5, **ident, "ais_version": 0, "imo": v.imo, "shipname": v.name,
                        "epfd": 1, "month": eta.month, "day": eta.day, "hour": eta.hour,
                        "minute": eta.minute, "draught": v.draught,
                        "destination": v.destination, "dte": False}  # fmt: skip
                self._seq_ids[rx] = self._seq_ids[rx] % 9 + 1
                out.append((rx, _vdm(data, channel, self._seq_ids[rx])))
            else:
                part_a = {"type": 24, "mmsi": v.mmsi, "partno": 0, "shipname": v.name}
                part_b = {"type": 24, "partno": 1, **ident, "vendorid": "SRT", "model": 1,
                          "serial": v.mmsi % 1_000_000}  # fmt: skip
                out += [(rx, _vdm(part_a, channel)), (rx, _vdm(part_b, channel))]
        return out

    def _receivers(self, pos: LonLat) -> list[str]:
        ranked = sorted(RECEIVERS, key=lambda rx: haversine_m(*pos, *RECEIVERS[rx]))
        return ranked[:2] if self.rng.random() < P_SECOND_RECEIVER else ranked[:1]

    def pack(self, items: list[tuple[str, list[str]]], now_ms: int) -> list[tuple[str, str]]:
        """Group lines into receiver payloads: (receiver id, text with "\\n"-separated lines)."""
        by_rx: dict[str, list[list[str]]] = {}
        for rx, lines in items:
            by_rx.setdefault(rx, []).append(lines)
        tag = tag_block(now_ms // 1000)
        out: list[tuple[str, str]] = []
        for rx, groups in by_rx.items():
            payloads: list[list[str]] = []
            cur: list[str] = []
            for g in groups:
                if len(g) > 1 and self.rng.random() < P_SPLIT_MULTIPART:
                    if cur:
                        payloads.append(cur)
                        cur = []
                    payloads.extend([line] for line in g)
                    continue
                if cur and (len(cur) + len(g) > MAX_LINES or self.rng.random() >= P_MERGE):
                    payloads.append(cur)
                    cur = []
                cur = cur + g
            if cur:
                payloads.append(cur)
            for lines in payloads:
                if self.rng.random() < TAG_BLOCK_P[rx]:
                    lines = [tag + line for line in lines]
                out.append((rx, "\n".join(lines)))
        return out

    # -- movement --------------------------------------------------------------------------------

    def _advance(self, v: Vessel, now_ms: int) -> None:
        last, v.last_ms = v.last_ms, now_ms
        if last is not None and v.target is not None:
            start = max(last, v.dwell_until_ms)
            if now_ms > start:
                if v.target != v.pos:
                    v.course = bearing_deg(v.pos, v.target)
                dist = v.speed_kn * KNOT_MS * (now_ms - start) / 1000.0
                v.pos = move_towards(v.pos, v.target, dist)
                if v.pos == v.target:
                    v.target = None
                    self._arrived(v, now_ms)
        if v.target is None and now_ms >= v.dwell_until_ms:
            self._next_leg(v, now_ms)

    def _arrived(self, v: Vessel, now_ms: int) -> None:
        rng = self.rng
        if v.lane and v.route:
            v.prev, v.target = v.pos, v.route.pop(0)
            return
        lo, hi = DWELL_S[v.role]
        v.dwell_until_ms = now_ms + rng.randint(lo, hi) * 1000
        if v.lane:
            v.nav_status = NAV_MOORED if v.role == "ferry" else NAV_ANCHORED
            if not v.inbound and v.role != "ferry":
                # Left the bay: out of the receivers' range until it comes back in.
                v.silent_until_ms = now_ms + rng.randint(10, 40) * 60_000
                v.dwell_until_ms = v.silent_until_ms
        elif v.role == "fishing":
            v.nav_status = NAV_FISHING
        elif v.role == "tug":
            v.nav_status = NAV_MOORED

    def _next_leg(self, v: Vessel, now_ms: int) -> None:
        rng = self.rng
        if v.lane:
            lane = LANES[v.where]
            v.inbound = not v.inbound
            v.route = list(lane if v.inbound else reversed(lane))
            v.route.pop(0)  # the end we are at
            v.prev, v.target = v.pos, v.route.pop(0)
            v.speed_kn, v.nav_status = rng.uniform(*v.cruise_kn), NAV_UNDERWAY
            return
        target = self._pick_roaming(v)
        if target is None:
            v.failures += 1
            # Nothing reachable in a straight line: go back the way we came.
            target = v.prev if v.failures >= 3 else None
        if target is None:
            v.dwell_until_ms = now_ms + 30_000
            return
        v.failures = 0
        v.prev, v.target = v.pos, target
        if v.role == "fishing":
            v.working = not v.working
            v.speed_kn = rng.uniform(2.0, 4.0) if v.working else rng.uniform(*v.cruise_kn)
            v.nav_status = NAV_FISHING if v.working else NAV_UNDERWAY
        else:
            v.speed_kn, v.nav_status = rng.uniform(*v.cruise_kn), NAV_UNDERWAY

    def _pick_roaming(self, v: Vessel) -> LonLat | None:
        geo, rng = self.geo, self.rng
        zones = self._zones_by_area.get(v.where, [])
        if zones and rng.random() < P_ZONE.get(v.role, 0.0):
            try:
                p = geo.random_zone_point(rng, rng.choice(zones))
                if geo.segment_stays_at_sea(v.pos, p):
                    return p
            except ValueError:
                pass
        lo, hi = LEG_M[v.role]
        if v.role == "fishing" and not v.working:
            lo, hi = 500.0, 2_000.0  # the next leg is a slow working one
        for _ in range(12):
            try:
                p = geo.random_sea_point(rng, v.where, near=v.pos, radius_m=rng.uniform(lo, hi))
            except ValueError:
                continue
            # Law-abiding by default: waypoints avoid zones (the P_ZONE few go in on purpose).
            if geo.segment_stays_at_sea(v.pos, p) and not geo.zones_at(*p):
                return p
        return None
