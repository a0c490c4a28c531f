"""The AsyncAPI document and the code agree: every documented channel is routed, every route is
documented, and every example payload is accepted as it stands."""

from __future__ import annotations

import re

import orjson
import yaml

from config.settings import Settings
from ingest.context import HandlerContext
from ingest.router import _ROUTES, Router, _Routes
from store.ops import DeadLetter
from tests.helpers import ROOT

DOC = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text(encoding="utf-8"))
PREFIX = Settings(_env_file=None).topic_prefix


def concrete(address: str) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: {"device": "phone", "user": "li"}.get(m[1], "X-1"), address
    )


def test_every_channel_is_routed_and_every_route_documented() -> None:
    documented = {concrete(c["address"]) for c in DOC["channels"].values()}
    routes = _Routes(PREFIX)
    for topic in documented:
        assert routes.find(topic) is not None, f"{topic} is documented, not routed"
    routed = {f"{PREFIX}/{section}/X-1/{leaf}" for section, leaf in _ROUTES}
    routed.add(concrete("owntracks/{user}/{device}"))
    for topic in routed:
        assert topic in documented, f"{topic} is routed, not documented"


def test_every_operation_is_qos1() -> None:
    for name, op in DOC["operations"].items():
        assert op["bindings"]["mqtt"]["qos"] == 1, name


def _sends() -> set[str]:
    """Channels ecocommand publishes on (to units) rather than ingests."""
    return {
        op["channel"]["$ref"].rsplit("/", 1)[1]
        for op in DOC["operations"].values()
        if op["action"] == "send"
    }


def test_what_ecocommand_sends_matches_its_schema_and_is_not_ingested() -> None:
    from domain.payloads import DispatchNotice

    router = Router(PREFIX, 65_536, 300)
    assert _sends() == {"unitDispatch"}
    channel = DOC["channels"]["unitDispatch"]
    for ref in channel["messages"].values():
        for ex in DOC["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]["examples"]:
            notice = DispatchNotice.model_validate(ex["payload"])
            topic = concrete(channel["address"]).replace("X-1", notice.unit_id)
            out = router.handle(topic, orjson.dumps(ex["payload"]), HandlerContext(received_ms=0))
            assert [type(o).__name__ for o in out] == ["Ignored"]  # our own: ignored, counted
            assert out[0].reason == "own_notice"


def test_every_example_is_accepted() -> None:
    router = Router(PREFIX, 65_536, 300)
    # received after the latest example (the patrol log's ts): none is dated ahead of receipt
    ctx = HandlerContext(received_ms=1_764_320_400_000, owntracks_units={"li/phone": "U-FO-003"})
    checked = 0
    for name, channel in DOC["channels"].items():
        if name in _sends():
            continue
        for ref in channel["messages"].values():
            msg = DOC["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            for ex in msg["examples"]:
                payload = ex["payload"]
                raw = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
                ids = {
                    "unit_id": payload.get("unit_id") if isinstance(payload, dict) else None,
                    "sensor_id": payload.get("sensor_id") if isinstance(payload, dict) else None,
                }
                topic = re.sub(
                    r"\{(\w+)\}",
                    lambda m, ids=ids: (
                        ids.get(m[1]) or {"device": "phone", "user": "li"}.get(m[1], "X-1")
                    ),
                    channel["address"],
                )
                out = router.handle(topic, raw, ctx)
                dead = [o for o in out if isinstance(o, DeadLetter)]
                assert out and not dead, (topic, dead)
                checked += 1
    assert checked == len(DOC["channels"]) - len(_sends())


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in text, f"{name.upper()} missing from .env.example"


def test_every_documented_channel_is_open_to_exactly_its_own_device() -> None:
    """The AsyncAPI channels and the broker's rules (domain/devices.py) agree: a device of the
    channel's kind may publish on it under its own id, and not under another's."""
    from domain import devices

    kinds = {"units": "unit", "ais": "ais", "sensors": "sensor", "owntracks": "owntracks"}
    for name, channel in DOC["channels"].items():
        topic = concrete(channel["address"])
        parts = topic.split("/")
        kind = kinds[parts[0] if parts[0] == "owntracks" else parts[1]]
        own = "li" if kind == "owntracks" else "X-1"
        if name in _sends():
            assert devices.subscribe_allowed("unit", own, topic, PREFIX), name
            assert not devices.publish_allowed("unit", own, topic, PREFIX), name
            assert not devices.subscribe_allowed("unit", "X-2", topic, PREFIX), name
            continue
        assert devices.publish_allowed(kind, own, topic, PREFIX), f"{name}: {kind} {own}"
        assert not devices.publish_allowed(kind, "X-2" if own == "X-1" else "wang", topic, PREFIX)
        assert devices.publish_allowed("service", "ingest", topic, PREFIX)
        assert not devices.publish_allowed("service", "web", topic, PREFIX)
    assert DOC["components"]["securitySchemes"]["deviceIdentity"]["type"] == "userPassword"
