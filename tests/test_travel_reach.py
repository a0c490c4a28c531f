"""The travel model searches from a destination only as far as the units asked about need
(domain/travel.py, TravelModel._field): the ETAs must be exactly those of the whole search."""

from __future__ import annotations

import random

import numpy as np
import pytest

from domain.geo import Geography
from domain.travel import TravelModel

ISLAND = (114.6502, 22.5728)  # a small island in Daya Bay, no land link
KINDS = ("foot", "vehicle", "boat", "drone")
SEAS = ("dapeng_bay", "daya_bay")


@pytest.mark.parametrize("graph", ["land", "sea"])
def test_a_search_with_a_limit_gives_the_whole_searchs_metres_within_it(
    travel: TravelModel, graph: str
) -> None:
    g = travel.graphs[graph]
    rng = random.Random(7)
    for _ in range(6):
        source = rng.randrange(g.lon.size)
        whole, _ = g.search(source)
        for limit in (0.0, 1500.0, 6000.0, 25_000.0):
            dist, pred = g.search(source, limit)
            near = np.isfinite(dist)
            assert np.array_equal(near, whole <= limit)
            assert np.array_equal(dist[near], whole[near])
            # a reached node's way back stays among reached nodes
            reached = np.flatnonzero(near & (np.arange(dist.size) != source))
            assert near[pred[reached]].all()


def _points(geo: Geography, rng: random.Random, n: int) -> tuple[list, list, list]:
    kinds, lon, lat = [], [], []
    for i in range(n):
        kind = KINDS[i % 4]
        x, y = (
            geo.random_sea_point(rng, rng.choice(SEAS))
            if kind == "boat"
            else geo.random_land_point(rng)
        )
        kinds.append(kind)
        lon.append(x)
        lat.append(y)
    kinds += ["vehicle", "boat"]  # one cut off on an island, one ashore (off its graph)
    lon += [ISLAND[0], 114.43]
    lat += [ISLAND[1], 22.63]
    return kinds, lon, lat


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_etas_are_those_of_the_whole_search_whatever_units_are_asked_together(
    travel: TravelModel, geo: Geography, seed: int
) -> None:
    """Each unit alone (the shortest searches), all together, and after a whole search is
    cached: the same metres, ETAs and reasons, to the last bit."""
    rng = random.Random(seed)
    kinds, lon, lat = _points(geo, rng, 60)
    for _ in range(8):
        dest = (
            geo.random_land_point(rng)
            if rng.random() < 0.6
            else geo.random_sea_point(rng, rng.choice(SEAS))
        )
        domain = rng.choice(["land", "sea", "coastal"])
        travel._cache.clear()
        alone = [
            travel.route([k], [x], [y], dest, domain)
            for k, x, y in zip(kinds, lon, lat, strict=True)
        ]
        travel._cache.clear()
        together = travel.route(kinds, lon, lat, dest, domain)
        travel._cache.clear()
        for graph in ("land", "sea"):
            travel.distances_from(dest, graph)  # the whole search, cached
        whole = travel.route(kinds, lon, lat, dest, domain)
        for got in (together, *(tuple(np.concatenate(a) for a in zip(*alone, strict=True)),)):
            for a, b in zip(got, whole, strict=True):
                assert np.array_equal(a, b), (dest, domain)
