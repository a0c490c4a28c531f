"""The JSON API answers what docs/openapi.yaml promises, to signed-in users only."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource

from config.settings import Settings
from dashboard import roles
from ingest import sensors, units, vessels
from ingest.context import HandlerContext
from store import users
from store.writer import LiveStore
from tests.conftest import ROOT
from tests.test_auth import PASSWORD, client, login, make_app

SPEC = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
TS = 1_764_300_000_000


def schema_validator(path: str) -> Draft202012Validator:
    registry = Registry().with_resource("urn:spec", Resource.opaque(SPEC))
    ref = SPEC["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return Draft202012Validator({"$ref": "urn:spec" + ref["$ref"]}, registry=registry)


def seed(r: redis.Redis) -> None:
    store = LiveStore(r, 3_600_000, 1000)
    profile = {"kind": "seawater", "water_class": "I", "name": "近岸1", "lon": 114.5, "lat": 22.5}
    ctx = HandlerContext(received_ms=TS, sensor_profile=lambda _s: profile)
    store.write(
        units.handle_profile(
            "U-1",
            orjson.dumps(
                {
                    "unit_id": "U-1",
                    "ts": TS,
                    "name": "巡查一组",
                    "department": "forestry",
                    "kind": "foot",
                    "level": "community",
                    "subdistrict": "nanao",
                }
            ),
            ctx,
        ),
        TS,
    )
    store.write(
        units.handle_position(
            "U-1",
            orjson.dumps(
                {
                    "unit_id": "U-1",
                    "seq": 3,
                    "ts": TS,
                    "lat": 22.6,
                    "lon": 114.45,
                    "status": "available",
                }
            ),
            ctx,
        ),
        TS,
    )
    store.write(
        vessels.handle_nmea("rx", b"!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C", ctx), TS
    )
    store.write(
        sensors.handle_profile(
            "S-1",
            orjson.dumps(
                {
                    "sensor_id": "S-1",
                    "ts": TS,
                    "name": "近岸1",
                    "kind": "seawater",
                    "lat": 22.5,
                    "lon": 114.5,
                    "water_class": "I",
                }
            ),
            ctx,
        ),
        TS,
    )
    store.write(
        sensors.handle_reading(
            "S-1",
            orjson.dumps(
                {"sensor_id": "S-1", "seq": 1, "ts": TS, "values": {"COD": 3.1, "pH": 8.0}}
            ),
            ctx,
        ),
        TS,
    )


def test_the_openapi_document_is_valid() -> None:
    validate(SPEC)


@pytest.mark.parametrize(
    "path", ["/api/v1/units", "/api/v1/vessels", "/api/v1/sensors", "/api/v1/alerts"]
)
def test_every_route_answers_its_schema_to_every_role(
    settings: Settings, r: redis.Redis, path: str
) -> None:
    seed(r)
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    server = make_app(settings)
    assert client(server).get(path).status_code == 401
    for role in roles.ROLES:
        c = client(server)
        assert login(c, role).status_code == 302
        resp = c.get(path)
        assert resp.status_code == 200, (role, resp.status_code)
        body: dict[str, Any] = resp.get_json()
        errors = list(schema_validator(path).iter_errors(body))
        assert not errors, [e.message for e in errors]
        assert body["count"] == len(body["items"]) == 1
