"""The embedded MQTT broker (amqtt), run as its own process: `python -m embedded.broker PORT`.

A pure-Python broker carries the district's real load (1-2 thousand messages/s) but not
benchmarks; those use mosquitto (see bench/).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from amqtt.broker import Broker


def broker_config(port: int, host: str = "127.0.0.1") -> dict:
    return {
        "listeners": {
            "default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 1000},
        },
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class EmbeddedBroker(Broker):
    """amqtt 0.12.1 replays, on every connect, the retained messages of *every* client's
    subscriptions to the client connecting (it loops over the broker's subscription table, not
    the session's): a unit subscribing to its dispatch topic got every unit's retained profile.
    Only a subscription the session holds gets them here (MQTT 3.1.1, 3.3.1-6). Overrides a
    private method: amqtt is pinned in pyproject.toml for this."""

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        holders = self._subscriptions.get(subscription[0], [])
        if any(s.client_id == session.client_id for s, _qos in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)


async def serve(port: int) -> None:
    broker = EmbeddedBroker(broker_config(port))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mqtt broker (amqtt) listening on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    await asyncio.wait_for(broker.shutdown(), timeout=5)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    # amqtt logs every client connection at INFO: too loud for a console shared with the others
    logging.getLogger("amqtt").setLevel(logging.ERROR)
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
