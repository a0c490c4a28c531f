"""paho's client for a subscriber at thousands of messages a second: packets read in bulk, and
acknowledgements sent in bulk.

paho 2.2 reads one packet per turn of its loop (a `select()` each) and makes a `recv()` call for
every part of it: the first byte, each byte of the length, the rest. That is five system calls
and a loop turn per message, about half of what a subscriber costs: measured on the benchmark's
mix (docs/deploy.md, "The worker's own figures"), 42-49 us a message for stock paho against
21-23 us with the two changes below.

- `_sock_recv` serves paho's small reads from a 64 KiB buffer filled by one `recv()`;
- `loop_read` parses every packet the socket holds before it goes back to `select()`: the
  socket is non-blocking, so the end of what was sent ends the turn. Nothing is held back from
  the loop's writes for long: the broker sends a subscriber at most its receive window (1,000
  unacknowledged messages) before it waits for acknowledgements.

And `ack_all` queues a batch's PUBACKs as one write. paho's `ack()` queues each on its own and
wakes the network thread for it: 500 wake-ups, 500 `send()` calls and as many hand-overs of the
interpreter lock between the two threads for one batch of the worker (measured 9.5 us a
message of its time).

`_sock_recv`, `_packet_read`, `_loop_rc_handle` and `_packet_queue` are private parts of paho
2.2.0, which pyproject.toml pins for this reason; tests/test_mqtt_bulk.py checks them against a
real broker (packets split across reads, packets larger than the buffer, a reconnect, acks).
"""

from __future__ import annotations

import struct
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, MQTTErrorCode

CHUNK = 65_536


class BulkClient(mqtt.Client):
    """paho's client, in bulk unless `stock` (paho as it comes: the benchmark's bare baseline)."""

    _rbuf = b""
    _rpos = 0
    _rsock: object = None  # the socket the buffer was read from: a new connection starts empty

    def __init__(self, *args: Any, stock: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stock = stock

    def _sock_recv(self, bufsize: int) -> bytes:
        if self.stock:
            return super()._sock_recv(bufsize)
        if self._rsock is not self._sock:
            self._rbuf, self._rpos, self._rsock = b"", 0, self._sock
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(CHUNK)  # BlockingIOError when the socket holds nothing
            if not data:
                return data  # the broker closed the connection
            self._rbuf, self._rpos = data, 0
        out = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(out)
        return out

    def _buffered(self) -> bool:
        return self._rsock is self._sock and self._rpos < len(self._rbuf)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if self.stock:
            return super().loop_read(max_packets)
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            # paho also answers "again" after 100 reads of one large packet: go on while the
            # buffer holds some of it, since select() cannot see what is buffered here
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN and not self._buffered():
                return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_all(self, mids: list[int]) -> None:
        """Acknowledge these QoS 1 messages (received with manual_ack): their PUBACKs, the
        packets paho's `ack()` makes (MQTT 3.1.1 and 5 alike for a success without properties),
        queued as one."""
        if self.stock:
            for mid in mids:
                self.ack(mid, 1)
        elif mids:
            packets = b"".join(struct.pack("!BBH", PUBACK, 2, mid) for mid in mids)
            self._packet_queue(PUBACK, packets, 0, 1)
