"""The simulator's broker connections: one MQTT client per simulated device, logged in as that
device (simulator/identities.py), all driven from the simulator's one thread.

One thread, not one per client: paho's `loop_start()` gives every client a thread and a socket
pair to wake it (three descriptors), and its select() cannot watch a descriptor numbered 1024
or more. At `--rate 10` (650 units, 664 devices) that was 666 threads and 1,995 descriptors,
and about half the devices never stayed connected (select() failed on their sockets). Here
each client's socket is registered with one selector (epoll on Linux) through paho's
external-loop API: paho's socket callbacks open, close and toggle the interest in writing,
`loop_read` / `loop_write` run when a socket is ready, `loop_misc` once a second keeps the
sessions alive. Callbacks run on the caller's thread too, so nothing here needs a lock.

A device whose connection is down is reconnected on its own, with back-off (1 s doubling to
30 s, jittered so that a restarted broker is not met by every device at once). While the broker
cannot be reached at all, attempts pause for every device with the same back-off: a broker that
is away costs one refused connection per interval, not one per device.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import logging
import random
import re
import selectors
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt

from domain.devices import dispatch_topic
from infra.connections import broker_address, mqtt_client
from simulator.identities import Identity, device_for

log = logging.getLogger("ecocommand.simulator")

QOS = 1
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 1.0  # one TCP connect blocks the loop at most this long
CONNECT_BUDGET_S = 0.25  # connection attempts per pass, so traffic and `stop` are still served
MIN_DELAY_S, MAX_DELAY_S = 1.0, 30.0
MISC_EVERY_S = 1.0
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def client_id_for(device_id: str, base: str = "sim") -> str:
    """The client id of a device's connection, e.g. "sim-U-EE-001": stable, so the broker keeps
    a unit's session (and the notices it queues while the simulator is away) for the next
    start. At most 64 characters of [A-Za-z0-9_.-]; a hash of the id keeps two ids apart that
    would otherwise be cut or cleaned to the same."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{base}-{device_id}")
    if clean == f"{base}-{device_id}" and len(clean) <= 64:
        return clean
    return f"{clean[:55]}-{hashlib.sha1(device_id.encode()).hexdigest()[:8]}"


def _allow_descriptors(n: int) -> None:
    """One descriptor per connection: raise the soft limit (often 1,024) if it is short of `n`
    and a margin, as far as the hard limit allows."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256  # Redis, logs, the libraries' own
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if new < want:
        log.warning("only %d file descriptors allowed for %d device connections", new, n)


class _Link:
    """One device's client and what the loop knows of it."""

    __slots__ = ("client", "connected", "delay", "dispatch", "ident", "refused", "scheduled")

    def __init__(self, ident: Identity, client: mqtt.Client, dispatch: str | None) -> None:
        self.ident = ident
        self.client = client
        self.dispatch = dispatch  # a unit's own notice topic, its only subscription
        self.connected = False  # CONNACK accepted, not lost since
        self.delay = MIN_DELAY_S  # the next back-off
        self.scheduled = False  # in the reconnect queue
        self.refused = False  # the broker refused the last CONNECT (logged once)


class DeviceLinks:
    """The connections of all devices. `service()` does one pass of their I/O; `publish()`
    sends a message as the device its topic names; dispatch notices for the units land in
    `notices` as (topic, payload)."""

    def __init__(
        self, url: str, prefix: str, identities: Iterable[Identity], base: str = "sim"
    ) -> None:
        a = broker_address(url)
        self.host, self.port, self.prefix = a.host, a.port, prefix
        self.notices: deque[tuple[str, bytes]] = deque()
        self.up = 0  # devices connected now
        self._fresh: set[str] = set()  # connected since take_fresh() was last called
        self._refusals: dict[str, list[str]] = {}  # reason -> devices newly refused
        self._sel = selectors.DefaultSelector()
        self._due: list[tuple[float, int, _Link]] = []  # reconnect queue: (when, order, link)
        self._order = itertools.count()
        self._hold_until, self._hold_delay = 0.0, MIN_DELAY_S  # the broker itself is away
        self._unreachable = False
        self._all_up = False
        self._closing = False
        self._next_misc = time.monotonic() + MISC_EVERY_S
        identities = list(identities)
        _allow_descriptors(len(identities))
        self.links = {i.device_id: self._make(url, i, base) for i in identities}
        for link in self.links.values():
            self._queue(link, 0.0)

    @property
    def total(self) -> int:
        return len(self.links)

    def _make(self, url: str, ident: Identity, base: str) -> _Link:
        unit = ident.kind == "unit"
        # persistent for units: QoS 1 notices published while they are away are kept for them
        c = mqtt_client(url, client_id_for(ident.device_id, base), persistent=unit)
        c.username_pw_set(ident.device_id, ident.secret)  # instead of any the URL carries
        c.connect_timeout = CONNECT_TIMEOUT_S
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(1_000)
        link = _Link(ident, c, dispatch_topic(self.prefix, ident.device_id) if unit else None)
        c.user_data_set(link)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        if unit:
            c.on_message = self._on_message
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        c.connect_async(self.host, self.port, keepalive=KEEPALIVE_S)  # no I/O: sets the address
        return link

    # -- paho's callbacks (all on the thread that calls service()) -------------------------------

    def _on_connect(self, c: mqtt.Client, link: _Link, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:  # paho closes the connection next: _on_disconnect retries
            if not link.refused:  # said once a second for all (_misc), not once per device
                self._refusals.setdefault(str(reason), []).append(link.ident.device_id)
            link.refused = True
            return
        link.refused = False
        link.delay = MIN_DELAY_S
        if link.dispatch:  # again on every connect: a broker that lost the session has none
            c.subscribe(link.dispatch, qos=QOS)
        if not link.connected:
            link.connected = True
            self.up += 1
        self._fresh.add(link.ident.device_id)

    def _on_disconnect(self, _c: mqtt.Client, link: _Link, _f: Any, reason: Any, _p: Any) -> None:
        if link.connected:
            link.connected = False
            self.up -= 1
            log.debug("device %s lost its connection (%s)", link.ident.device_id, reason)
        if not self._closing:
            self._queue(link, time.monotonic() + link.delay * random.uniform(0.5, 1.0))
            link.delay = min(link.delay * 2, MAX_DELAY_S)

    def _on_message(self, _c: mqtt.Client, link: _Link, m: mqtt.MQTTMessage) -> None:
        # only its own notices: amqtt was seen delivering retained profiles to a dispatch filter
        if m.topic == link.dispatch:
            self.notices.append((m.topic, m.payload))

    def _on_socket_open(self, _c: mqtt.Client, link: _Link, sock: Any) -> None:
        self._sel.register(sock, _READ, link)

    def _on_socket_close(self, _c: mqtt.Client, _link: _Link, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)

    def _on_register_write(self, _c: mqtt.Client, link: _Link, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.modify(sock, _READ | _WRITE, link)

    def _on_unregister_write(self, _c: mqtt.Client, link: _Link, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.modify(sock, _READ, link)

    # -- the loop ----------------------------------------------------------------------------------

    def service(self, timeout: float) -> None:
        """One pass: the connection attempts that are due (for at most CONNECT_BUDGET_S), then
        reads and writes for up to `timeout` seconds (less if an attempt falls due sooner),
        then, once a second, keepalives."""
        self._connect_due()
        if self._due:
            next_try = max(self._due[0][0], self._hold_until)
            timeout = min(timeout, max(next_try - time.monotonic(), 0.0))
        self._poll(timeout)
        now = time.monotonic()
        if now >= self._next_misc:
            self._next_misc = now + MISC_EVERY_S
            self._misc()

    def _queue(self, link: _Link, when: float) -> None:
        if not link.scheduled:
            link.scheduled = True
            heapq.heappush(self._due, (when, next(self._order), link))

    def _connect_due(self) -> None:
        now = time.monotonic()
        if now < self._hold_until:
            return
        budget_end = now + CONNECT_BUDGET_S
        while self._due and self._due[0][0] <= now and time.monotonic() < budget_end:
            link = heapq.heappop(self._due)[2]
            link.scheduled = False
            if self._closing or link.client.socket() is not None:
                continue  # connecting or connected already
            try:
                link.client.reconnect()  # a blocking TCP connect (<= CONNECT_TIMEOUT_S), CONNECT
            except OSError as e:
                self._queue(link, time.monotonic() + link.delay * random.uniform(0.5, 1.0))
                link.delay = min(link.delay * 2, MAX_DELAY_S)
                self._broker_away(e)
                return
            if self._unreachable:
                log.info("reached the broker at %s:%s again", self.host, self.port)
                self._unreachable, self._hold_delay = False, MIN_DELAY_S

    def _broker_away(self, e: OSError) -> None:
        if not self._unreachable:
            log.warning(
                "cannot reach the broker at %s:%s (%s); retrying with back-off",
                self.host,
                self.port,
                e.strerror or e,
            )
        self._unreachable = True
        self._hold_until = time.monotonic() + self._hold_delay * random.uniform(0.5, 1.0)
        self._hold_delay = min(self._hold_delay * 2, MAX_DELAY_S)

    def _poll(self, timeout: float) -> None:
        if not self._sel.get_map():  # nothing open (an empty select is an error on Windows)
            time.sleep(timeout)
            return
        for key, events in self._sel.select(timeout):
            c: mqtt.Client = key.data.client
            if events & _READ:
                c.loop_read()
                sock = c.socket()
                while sock is not None and getattr(sock, "pending", lambda: 0)() > 0:
                    c.loop_read()  # TLS: bytes already decrypted are invisible to select()
                    sock = c.socket()
            if events & _WRITE and c.socket() is key.fileobj:
                c.loop_write()

    def _misc(self) -> None:
        for link in self.links.values():
            if link.client.socket() is not None:
                link.client.loop_misc()  # PINGREQ when due; drops a broker gone silent
            elif not link.scheduled and not self._closing:
                self._queue(link, time.monotonic())  # closed without a callback: never stuck
        self._report()

    def _report(self) -> None:
        for reason, ids in self._refusals.items():
            log.warning(
                "the broker refused %d device(s) (%s): %s%s; retrying with back-off",
                len(ids),
                reason,
                ", ".join(ids[:5]),
                ", ..." if len(ids) > 5 else "",
            )
        self._refusals = {}
        if self.up == self.total and not self._all_up:
            log.info("all %d devices connected to %s:%s", self.total, self.host, self.port)
        elif self._all_up and self.up < self.total:
            log.warning(
                "%d of %d devices lost their connection to %s:%s; reconnecting with back-off",
                self.total - self.up,
                self.total,
                self.host,
                self.port,
            )
        self._all_up = self.up == self.total

    # -- for the simulation loop -------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, retain: bool) -> mqtt.MQTTErrorCode | None:
        """Publishes as the device `topic` names: paho's code (MQTT_ERR_QUEUE_SIZE when its
        queue is full), or None, nothing sent, if that device is not one of ours or is not
        connected. Nothing is queued for a device that is away: stale reports are worth
        nothing later."""
        device = device_for(topic, self.prefix)
        if device is None:
            return None
        kind, device_id = device
        link = self.links.get(device_id)
        if link is None or link.ident.kind != kind or not link.connected:
            return None
        return link.client.publish(topic, payload, qos=QOS, retain=retain).rc

    def take_fresh(self) -> set[str]:
        """The devices that connected (or reconnected) since the last call."""
        fresh, self._fresh = self._fresh, set()
        return fresh

    def close(self, wait_s: float = 1.0) -> None:
        """DISCONNECT every device (units keep their sessions), waiting up to `wait_s` for the
        packets to leave, then closes whatever is still open."""
        self._closing = True
        for link in self.links.values():
            link.client.disconnect()
        deadline = time.monotonic() + wait_s
        while self._sel.get_map() and time.monotonic() < deadline:
            self._poll(0.05)
        for key in list(self._sel.get_map().values()):
            self._sel.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()
