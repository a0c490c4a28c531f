"""The embedded MQTT broker (amqtt), run as its own process: `python -m embedded.broker PORT`.

What it adds to amqtt, so that the default keeps the promises of a production broker:

* only identities of the device roster connect (embedded/access.py): no anonymous clients, a
  revoked device is dropped within seconds, and each identity publishes and subscribes only on
  its own topics; every refusal is counted;
* every accepted message the worker reads is written to Redis before its PUBACK
  (embedded/inbox.py), so nothing acknowledged is lost when the worker or the broker dies.

It reads REDIS_URL (the roster, the inbox) and TOPIC_PREFIX from the settings. A pure-Python
broker carries the district's real load (1-2 thousand messages/s) but not benchmarks at city
scale; those use mosquitto (bench/, docs/deploy.md).

amqtt is pinned exactly (pyproject.toml): these classes override its private methods, named in
each docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any, NamedTuple

import amqtt.broker
import redis.asyncio as aioredis
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import MQTTError
from amqtt.mqtt.connack import BAD_USERNAME_PASSWORD, NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.constants import QOS_1, QOS_2
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.puback import PubackPacket
from amqtt.session import Session
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from config.settings import Settings, get_settings
from embedded.access import Gate, Refused
from embedded.inbox import Inbox
from ingest.router import subscriptions

log = logging.getLogger("ecocommand.broker")


class TlsListener(NamedTuple):
    port: int
    certfile: Path
    keyfile: Path


def tls_listener(s: Settings) -> TlsListener | None:
    """The MQTT-over-TLS listener MQTT_TLS_CERT / MQTT_TLS_KEY ask for, if they do."""
    if s.mqtt_tls_cert is None or s.mqtt_tls_key is None:
        return None
    return TlsListener(s.embedded_mqtts_port, s.mqtt_tls_cert, s.mqtt_tls_key)


def broker_config(port: int, host: str = "127.0.0.1", tls: TlsListener | None = None) -> dict:
    listeners: dict[str, dict] = {
        "default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 5000},
    }
    if tls is not None:
        # Another socket of the same broker: amqtt builds every connection's handler from
        # GatedHandler, so the roster, the topic rules and the inbox apply here alike.
        listeners["tls"] = {
            "type": "tcp",
            "bind": f"{host}:{tls.port}",
            "max_connections": 5000,
            "ssl": True,
            "certfile": str(tls.certfile),
            "keyfile": str(tls.keyfile),
        }
    # no amqtt plugins: EmbeddedBroker decides authentication and topics itself
    return {"listeners": listeners, "plugins": {}}


class GatedHandler(BrokerProtocolHandler):
    """A client connection: refused at CONNECT unless the roster knows it, and each PUBLISH
    checked and handed to the inbox before amqtt queues and acknowledges it."""

    gate: Gate
    inbox: Inbox
    owners: dict[str, str]  # client id -> identity of the session that holds it

    @classmethod
    async def init_from_connect(cls, reader: Any, writer: Any, plugins_manager: Any, loop=None):
        # amqtt authenticates only after looking up, and for a clean session deleting, the
        # session of the client id: anyone could wipe or take over a unit's session. Here
        # nothing happens to a session before its identity is proven.
        handler, session = await super().init_from_connect(reader, writer, plugins_manager, loop)
        with contextlib.suppress(OSError, aioredis.RedisError):  # Redis away: as last read
            await cls.gate.load()
        try:
            identity = cls.gate.authenticate(session.username, session.password)
            owner = cls.owners.get(session.client_id)
            if owner is not None and owner != identity:
                raise Refused(identity, "client_id_taken")
            if session.will_flag and not cls.gate.may_publish(identity, session.will_topic or ""):
                raise Refused(identity, "will_denied")
        except Refused as no:
            cls.gate.count(no.identity, no.reason)
            code = NOT_AUTHORIZED if no.reason != "bad_password" else BAD_USERNAME_PASSWORD
            await ConnackPacket.build(0, code).to_stream(writer)
            await writer.close()
            raise MQTTError(f"refused {no.identity}: {no.reason}") from None
        if session.client_id:
            cls.owners[session.client_id] = identity
        return handler, session

    async def handle_publish(self, publish_packet: Any) -> None:
        topic, session = publish_packet.topic_name, self.session
        identity = session.username if session else None
        if topic is None or publish_packet.data is None:
            return
        if not self.gate.may_publish(identity, topic):
            self.gate.count(identity or "unknown", "publish_denied")
            await self._refuse(publish_packet)
            return
        if self.gate.for_worker(topic):
            await self.inbox.put(topic, bytes(publish_packet.data), identity or "")
        await super().handle_publish(publish_packet)

    async def _refuse(self, publish_packet: Any) -> None:
        """MQTT 3.1.1 (3.3.5): acknowledge and drop, or close the connection. QoS 1 is
        acknowledged like mosquitto does; a QoS 2 flow is cut (devices publish at QoS 1)."""
        if publish_packet.qos == QOS_1:
            await self._send_packet(PubackPacket.build(publish_packet.packet_id))
        elif publish_packet.qos == QOS_2 and self.writer is not None:
            await self.writer.close()


class EmbeddedBroker(Broker):
    def __init__(self, config: dict, gate: Gate, inbox: Inbox) -> None:
        super().__init__(config)
        self.gate, self.inbox = gate, inbox
        GatedHandler.gate, GatedHandler.inbox, GatedHandler.owners = gate, inbox, {}

    async def _authenticate(self, session: Session, _listener: Any) -> bool:
        """Overrides amqtt's plugin-based check: GatedHandler.init_from_connect did it."""
        return True

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        """Overrides amqtt's plugin-based check: publishes were checked on arrival (before the
        hand-off), deliveries follow from subscriptions, subscriptions are checked here."""
        if action == Action.SUBSCRIBE:
            return self.gate.may_subscribe(session.username, topic)
        return True

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        """amqtt 0.12.1 replays, on every connect, the retained messages of *every* client's
        subscriptions to the client connecting (it loops over the broker's subscription table,
        not the session's): a unit subscribing to its dispatch topic got every unit's retained
        profile. Only a subscription the session holds gets them here (MQTT 3.1.1, 3.3.1-6)."""
        holders = self._subscriptions.get(subscription[0], [])
        if any(s.client_id == session.client_id for s, _qos in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)

    async def drop_revoked(self) -> None:
        """Disconnects the connected clients whose identity was revoked, and forgets their
        sessions (with the notices queued for them)."""
        for client_id, (session, handler) in list(self._sessions.items()):
            if self.gate.active(session.username):
                continue
            log.info("dropping %s (%s): no longer in the roster", client_id, session.username)
            if session.transitions.is_connected():
                await handler.handle_connection_closed()
                await handler.stop()
            await self._delete_session(client_id)
            GatedHandler.owners.pop(client_id, None)


# amqtt builds its connection handlers from this module-level name
amqtt.broker.BrokerProtocolHandler = GatedHandler  # type: ignore[misc]


async def serve(port: int) -> None:
    s = get_settings()
    # no retry by the client: an inbox entry added twice would be a message received twice
    # (infra/connections.no_retry); an error is the broker's to handle
    r = aioredis.Redis.from_url(
        s.effective_redis_url,
        socket_timeout=5,
        socket_connect_timeout=3,
        retry=AsyncRetry(NoBackoff(), 0),
    )
    gate = Gate(r, s.topic_prefix, subscriptions(s.topic_prefix))
    await gate.load()
    inbox = Inbox(r)
    tls = tls_listener(s)
    broker = EmbeddedBroker(broker_config(port, tls=tls), gate, inbox)
    inbox.start()
    await broker.start()
    watcher = asyncio.create_task(gate.watch(broker.drop_revoked))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    also = f", TLS on 127.0.0.1:{tls.port}" if tls else ""
    print(f"mqtt broker (amqtt) listening on 127.0.0.1:{port}{also}", flush=True)
    await stop.wait()
    await inbox.drain(timeout=3)  # what publishers are still waiting for goes to Redis first
    watcher.cancel()
    await gate.flush()
    await asyncio.wait_for(broker.shutdown(), timeout=5)
    await r.aclose()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("ecocommand.broker").setLevel(logging.INFO)
    # amqtt logs every client connection at INFO: too loud for a console shared with the others
    logging.getLogger("amqtt").setLevel(logging.ERROR)
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
