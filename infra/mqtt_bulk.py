"""paho's client for a subscriber at thousands of messages a second: packets read in bulk, and
acknowledgements sent in bulk.

paho 2.2 reads one packet per turn of its loop (a `select()` each) and makes a `recv()` call for
every part of it: the first byte, each byte of the length, the rest. That is five system calls
and a loop turn per message, and with paho's `ack()` (below) more than half of what the worker
costs a message. Measured on the benchmark's mix, a subscriber that takes batches of 500 and
acknowledges them (docs/deploy.md, "What one worker reaches"): 44-54 us of CPU a
message with stock paho, 16-17 us with this client.

- `_sock_recv` serves paho's reads from a 64 KiB buffer filled by one `recv()`, and
  `_packet_read` cuts a packet the buffer holds whole at once (paho's way, a read per part, is
  kept for a packet the buffer holds only part of);
- `loop_read` parses every packet the socket holds before it goes back to `select()`: the
  socket is non-blocking, so the end of what was sent ends the turn. Nothing is held back from
  the loop's writes for long: the broker sends a subscriber at most its receive window (1,000
  unacknowledged messages) before it waits for acknowledgements;
- `ack_all` queues a batch's PUBACKs as one write. paho's `ack()` queues each on its own and
  wakes the network thread for it: 500 wake-ups, 500 `send()` calls and as many hand-overs of
  the interpreter lock between the two threads for one batch of the worker (measured: 9.5 us
  a message of the worker's time).

`_sock_recv`, `_packet_read` (and its `_in_packet` record), `_packet_handle`, `_loop_rc_handle`
and `_packet_queue` are private parts of paho 2.2.0, which pyproject.toml pins for this reason;
tests/test_mqtt_bulk.py checks them against a real broker (packets split across reads, packets
larger than the buffer, a reconnect, acknowledgements).
"""

from __future__ import annotations

import struct
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, MQTTErrorCode, time_func
from paho.mqtt.exception import MalformedPacket

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

    def _packet_read(self) -> MQTTErrorCode:
        """A packet whole in the buffer is cut from it at once; the rest (one begun before,
        one the buffer holds a part of) goes paho's way, a read at a time."""
        buf, pos = self._rbuf, self._rpos
        if self.stock or self._in_packet["command"] != 0 or self._rsock is not self._sock:
            return super()._packet_read()
        at, length, mult = pos + 1, 0, 1
        while True:  # the remaining length: 1 to 4 bytes, 7 bits each
            if at >= len(buf) or at - pos > 4:
                return super()._packet_read()  # not all here, or too long: paho says which
            byte = buf[at]
            length += (byte & 127) * mult
            mult *= 128
            at += 1
            if not byte & 128:
                break
        if at + length > len(buf):
            return super()._packet_read()
        self._rpos = at + length
        self._in_packet = _packet(buf[pos], length, mult, buf[at : at + length])
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = _packet(0, 0, 1, bytearray())
        with self._msgtime_mutex:
            self._last_bytes_received = time_func()
        return rc

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


def _packet(command: int, length: int, mult: int, body: bytes | bytearray) -> Any:
    """paho's record of the packet being read (its `_in_packet`), this one read whole."""
    return {
        "command": command,
        "have_remaining": 1 if command else 0,
        "remaining_count": [],
        "remaining_mult": mult,
        "remaining_length": length,
        "packet": body,
        "to_process": 0,
        "pos": 0,
    }
