"""The simulator's citizen reports and hotline tickets (simulator/reports.py, ReportLine in
simulator/main.py): when they come, what they say and where, and that they open real incidents
with tracking codes through the service a public report takes."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter

import pytest
import redis

from config.settings import Settings
from domain.geo import Geography, load_geography
from domain.incidents import DispatchRules, Domain, IncidentType, Source, load_rules
from domain.personal import PHONE_PATTERN
from services import context
from services.reports import progress
from simulator import reports
from simulator.main import ReportLine
from store import incidents, keys
from store.personal import PHONE_FIELD

T0 = 1_750_000_000_000
HOUR_MS = 3_600_000
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


@pytest.fixture(scope="module")
def geo() -> Geography:
    return load_geography()


@pytest.fixture(scope="module")
def rules() -> DispatchRules:
    return load_rules()


@pytest.fixture(scope="module")
def made(geo: Geography, rules: DispatchRules) -> list[reports.ReportFields]:
    rng = random.Random(11)
    return [reports.make_report(rng, geo, rules) for _ in range(400)]


def _times(seed: int, rate: float, n: int) -> list[int]:
    return list(itertools.islice(reports.due_times(random.Random(seed), T0, rate), n))


# == the schedule ==============================================================================


@pytest.mark.parametrize("rate", [0.1, 1.0, 10.0])
def test_the_first_comes_30_to_90_s_after_the_start_whatever_the_rate(rate: float) -> None:
    firsts = [_times(seed, rate, 1)[0] - T0 for seed in range(50)]
    assert all(30_000 <= f <= 90_000 for f in firsts)  # the brief's bound is 2 minutes
    assert len(set(firsts)) > 40  # drawn, not fixed


@pytest.mark.parametrize("rate", [0.5, 1.0, 3.0])
def test_about_4_an_hour_times_the_rate(rate: float) -> None:
    hours = 1000
    due = reports.due_times(random.Random(5), T0, rate)
    n = sum(1 for _ in itertools.takewhile(lambda t: t < T0 + hours * HOUR_MS, due))
    # Poisson: the standard deviation of 4000 is 63, so 10 % is over 6 of them
    assert n == pytest.approx(reports.MEAN_PER_HOUR * rate * hours, rel=0.1)


def test_the_gaps_are_random_and_the_times_increase() -> None:
    times = _times(3, 1.0, 500)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g > 0 for g in gaps)
    # exponential: the spread of the gaps is about their mean, some short, some long
    mean = sum(gaps) / len(gaps)
    assert min(gaps) < mean / 10 and max(gaps) > 3 * mean


def test_same_seed_same_times_other_seed_other_times() -> None:
    assert _times(42, 1.0, 20) == _times(42, 1.0, 20)
    assert _times(42, 1.0, 20) != _times(43, 1.0, 20)


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next(reports.due_times(random.Random(1), T0, 0))


# == one report ================================================================================


def test_each_type_is_placed_where_it_happens(
    made: list[reports.ReportFields], geo: Geography, rules: DispatchRules
) -> None:
    for f in made:
        assert geo.in_coverage(f.lon, f.lat) and geo.in_district(f.lon, f.lat), f
        domain = rules.types[f.type].domain
        if domain is Domain.SEA:  # at sea, near enough the shore to be seen from it
            assert geo.is_sea(f.lon, f.lat), f
            assert reports.metres_to(geo.land, (f.lon, f.lat)) <= reports.SEA_FROM_SHORE_M
        elif domain is Domain.COASTAL:  # on land by the water
            assert geo.is_land(f.lon, f.lat), f
            where = (f.lon, f.lat)
            assert reports.metres_to(geo.district_waters, where) <= reports.SHORE_FROM_WATER_M
        else:
            assert geo.is_land(f.lon, f.lat), f
    domains = {rules.types[f.type].domain for f in made}
    assert domains == {Domain.LAND, Domain.SEA, Domain.COASTAL}


def test_the_mix_is_mostly_web_reports_with_some_hotline_tickets(
    made: list[reports.ReportFields],
) -> None:
    sources = Counter(f.source for f in made)
    assert set(sources) == {Source.CITIZEN_REPORT, Source.HOTLINE}
    assert 0.15 < sources[Source.HOTLINE] / len(made) < 0.35
    assert {f.type for f in made} == set(IncidentType)


def test_what_callers_and_reporters_say(made: list[reports.ReportFields]) -> None:
    for f in made:
        said = f.description.removeprefix(reports.HOTLINE_LEAD)
        assert said in (*reports.DESCRIPTIONS[f.type], "")
        if f.phone is not None:
            assert MOBILE.match(f.phone) and re.match(PHONE_PATTERN, f.phone)
        if f.source is Source.HOTLINE:  # the caller's number is always on the ticket
            assert f.phone and f.description.startswith(reports.HOTLINE_LEAD)
    web = [f for f in made if f.source is Source.CITIZEN_REPORT]
    assert any(f.phone for f in web) and any(f.phone is None for f in web)
    assert any(not f.description for f in web) and any(f.description for f in web)


def test_same_seed_same_reports(geo: Geography, rules: DispatchRules) -> None:
    def some(seed: int) -> list[reports.ReportFields]:
        rng = random.Random(seed)
        return [reports.make_report(rng, geo, rules) for _ in range(10)]

    assert some(2) == some(2) and some(2) != some(3)


# == the simulator's report step, into Redis ====================================================


def test_a_due_report_opens_an_incident_with_a_tracking_code(
    settings: Settings, r: redis.Redis
) -> None:
    ctx = context.build(settings)
    line = ReportLine(ctx, seed=7, start_ms=T0, rate=1.0)
    assert line.turn(T0 + 29_000) is None  # nothing due yet
    opened = []
    for _ in range(8):
        opened.append(line.turn(line.next_ms))
    assert all(opened) and line.opened == 8 and line.failed == 0
    open_ids = {i.decode() for i in r.zrange(keys.INCIDENTS_OPEN, 0, -1)}
    assert len(open_ids) == 8
    sources = set()
    for out in opened:
        assert out is not None and out["track_url"] == f"/report/track/{out['code']}"
        seen = progress(ctx, out["code"])
        assert seen["stage"] == "received"
        incident_id = _tracked(r, out["code"])
        assert incident_id in open_ids
        inc = incidents.read(r, incident_id)
        assert inc is not None and inc["state"] == "reported" and seen["type"] == inc["type"]
        sources.add(inc["source"])
        if inc["source"] == Source.HOTLINE:
            assert MOBILE.match(str(inc[PHONE_FIELD]))
    assert sources <= {Source.CITIZEN_REPORT.value, Source.HOTLINE.value} and sources
    ctx.redis.close()


def test_after_a_stall_one_report_not_a_burst(settings: Settings, r: redis.Redis) -> None:
    ctx = context.build(settings)
    line = ReportLine(ctx, seed=7, start_ms=T0, rate=1.0)
    assert line.turn(T0 + 10 * HOUR_MS) is not None  # some 40 were due meanwhile
    assert line.turn(T0 + 10 * HOUR_MS) is None and line.next_ms > T0 + 10 * HOUR_MS
    assert r.zcard(keys.INCIDENTS_OPEN) == 1
    ctx.redis.close()


def test_without_redis_a_report_is_skipped_with_one_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    away = settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    line = ReportLine(context.build(away), seed=7, start_ms=T0, rate=1.0)
    with caplog.at_level("WARNING", logger="ecocommand.simulator"):
        assert line.turn(line.next_ms) is None
    assert line.failed == 1 and line.opened == 0
    assert len(caplog.records) == 1 and "not opened" in caplog.records[0].getMessage()


def _tracked(r: redis.Redis, code: str) -> str:
    found = r.get(keys.report_tracking(code))
    assert found is not None
    return found.decode()
