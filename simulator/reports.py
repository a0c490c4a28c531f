"""Citizen reports and hotline tickets for the live simulator: when they come (`due_times`) and
what each one says (`make_report`). Pure: no Redis, no MQTT; simulator/main.py opens them through
services.reports.open_report, the path the public report endpoint takes.

Why they are simulated at all: without them a new user of the embedded demo would watch units
and vessels move for an hour before the dispatch queue showed a case to verify. So the first
comes within FIRST_DUE_S of the start, then MEAN_PER_HOUR (times the simulator's rate) at random
(exponential) gaps, as calls from the public arrive independently of each other.

What they say follows the bureau's picture of public reports: mostly web reports (some leave a
number), some 12345 hotline tickets (always with the caller's mobile number); dumping, noise
and dirty rivers most often; each placed where its type happens (config/dispatch.json's domain):
land types on the district's land, sea types in its waters near the shore (what someone on
the shore can see), shore types (coastal) on land by the water.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from domain.geo import DISTRICT_WATERS, Geography, LonLat
from domain.incidents import DispatchRules, Domain, IncidentType, Source

MEAN_PER_HOUR = 4.0  # reports and tickets in all, at rate 1
FIRST_DUE_S = (30.0, 90.0)  # the first one: soon, but not the instant the demo opens
HOUR_MS = 3_600_000

HOTLINE_SHARE = 0.25  # the rest are web reports (source citizen_report)
P_WEB_PHONE = 0.4  # a web report's number is optional; fewer than half leave one
P_NO_DESCRIPTION = 0.15  # a web report may be a photo-less pin with a type and nothing more
HOTLINE_LEAD = "市民来电反映："  # how a 12345 operator opens the gist of a call

# A place "near the shore" at sea, and "by the water" on land. Distances are taken in degrees
# times metres per degree of latitude: a longitude degree is shorter here (cos 22.5° = 0.92),
# so the true distance is at most the one computed and the limits hold.
SEA_FROM_SHORE_M = 1_500
SHORE_FROM_WATER_M = 300
M_PER_DEG = 111_195.0
PLACE_TRIES = 200  # rejection sampling; a miss after that keeps the last point of the right medium

# What the public reports, roughly: dumping and noise are seen and heard by everyone, sand
# mining by few.
TYPE_WEIGHTS = {
    IncidentType.WASTE_DUMPING: 22,
    IncidentType.NOISE: 18,
    IncidentType.WATER_POLLUTION: 15,
    IncidentType.ILLEGAL_FISHING: 14,
    IncidentType.ILLEGAL_DISCHARGE: 10,
    IncidentType.ILLEGAL_BUILDING: 10,
    IncidentType.ILLEGAL_LOGGING: 6,
    IncidentType.ILLEGAL_SAND_MINING: 5,
}

DESCRIPTIONS = {
    IncidentType.WATER_POLLUTION: (
        "河水发黑发臭，有死鱼漂浮",
        "溪流里有大片白色泡沫，气味刺鼻",
        "小河的水变成了黄褐色，像是有东西流进去了",
        "水库边水面有一层油花",
    ),
    IncidentType.ILLEGAL_DISCHARGE: (
        "工厂排污口夜里往河里排黑水",
        "有槽罐车往雨水井里偷排废水",
        "养殖场的污水直接排进河里",
        "餐馆的油污水直接排到河道",
    ),
    IncidentType.ILLEGAL_BUILDING: (
        "山脚下有人在建房子，正在打地基",
        "海边有人搭铁皮房，没看到任何公示",
        "村里楼顶在加盖一层，天天施工",
    ),
    IncidentType.ILLEGAL_FISHING: (
        "海边有渔船在禁渔区拖网",
        "休渔期还有小船在近岸下网",
        "有人在海上用电鱼设备捕鱼",
        "夜里有快艇在保护区附近收地笼网",
    ),
    IncidentType.ILLEGAL_LOGGING: (
        "山上有人砍树，一直听到电锯声",
        "林子里有很多新砍的树桩，有人在装车运木头",
        "有人在山上毁林种果树",
    ),
    IncidentType.ILLEGAL_SAND_MINING: (
        "海滩上有人用铲车挖沙装车",
        "河口有人偷挖河沙",
        "夜里有货车在海边运沙",
    ),
    IncidentType.WASTE_DUMPING: (
        "河边有人倾倒建筑垃圾",
        "路边空地被倒了一大堆装修垃圾",
        "有货车往山沟里倒垃圾",
        "海滩附近堆了很多生活垃圾没人清理",
    ),
    IncidentType.NOISE: (
        "工地夜间施工，噪音很大",
        "凌晨还有机器轰鸣，影响休息",
        "民宿深夜开音响唱歌，很吵",
        "石场放炮声音太大，窗户都在震",
    ),
}

# Mainland mobile number blocks (China Mobile, Unicom, Telecom): 11 digits, e.g. 138xxxxxxxx
MOBILE_PREFIXES = (
    "134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182",
    "183", "187", "188", "130", "131", "132", "155", "156", "185", "186", "133", "153", "180",
    "181", "189", "177", "199",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReportFields:
    """One report's fields, as services.reports.open_report takes them (no photos)."""

    type: IncidentType
    lat: float
    lon: float
    description: str
    phone: str | None
    source: Source


def due_times(rng: random.Random, start_ms: int, rate: float = 1.0) -> Iterator[int]:
    """The times (ms, increasing, endless) at which reports come: the first FIRST_DUE_S after
    start_ms whatever the rate (a demo at rate 0.1 should still show one soon), then
    exponential gaps of mean 1 / (MEAN_PER_HOUR * rate) hours."""
    if not rate > 0:
        raise ValueError("rate must be > 0")
    at = start_ms + round(rng.uniform(*FIRST_DUE_S) * 1000)
    per_ms = MEAN_PER_HOUR * rate / HOUR_MS
    while True:
        yield at
        at += max(1, round(rng.expovariate(per_ms)))  # strictly increasing: one report per time


def make_report(rng: random.Random, geo: Geography, rules: DispatchRules) -> ReportFields:
    """One plausible report: a type, a place that suits it, what the person said and their
    number (always on the hotline, sometimes on the web)."""
    type_ = rng.choices(list(TYPE_WEIGHTS), weights=list(TYPE_WEIGHTS.values()))[0]
    lon, lat = place(rng, geo, rules.types[type_].domain)
    said = rng.choice(DESCRIPTIONS[type_])
    if rng.random() < HOTLINE_SHARE:
        return ReportFields(type_, lat, lon, HOTLINE_LEAD + said, mobile(rng), Source.HOTLINE)
    description = "" if rng.random() < P_NO_DESCRIPTION else said
    phone = mobile(rng) if rng.random() < P_WEB_PHONE else None
    return ReportFields(type_, lat, lon, description, phone, Source.CITIZEN_REPORT)


def place(rng: random.Random, geo: Geography, domain: Domain) -> LonLat:
    """A point of the district where an incident of this domain happens."""
    if domain is Domain.SEA:  # the district's waters already hug the coast; keep the near part
        return _sample(
            lambda: geo.random_sea_point(rng, DISTRICT_WATERS),
            lambda p: metres_to(geo.land, p) <= SEA_FROM_SHORE_M,
        )
    if domain is Domain.COASTAL:  # a beach, a river mouth: land, by the district's waters
        return _sample(
            lambda: geo.random_land_point(rng),
            lambda p: metres_to(geo.district_waters, p) <= SHORE_FROM_WATER_M,
        )
    return geo.random_land_point(rng)


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def metres_to(geom: BaseGeometry, p: LonLat) -> float:
    """An upper bound of the distance from p to geom (0 inside it); see SEA_FROM_SHORE_M."""
    return float(shapely.distance(geom, shapely.Point(p))) * M_PER_DEG


def _sample(draw: Callable[[], LonLat], near_enough: Callable[[LonLat], bool]) -> LonLat:
    p = draw()
    for _ in range(PLACE_TRIES):
        if near_enough(p):
            break
        p = draw()
    return p
