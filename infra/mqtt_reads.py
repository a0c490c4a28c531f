"""Reading MQTT packets in bulk: what a subscriber at thousands of messages a second needs.

paho 2.2 reads one packet per turn of its loop (a `select()` each) and makes a `recv()` call for
every part of it: the first byte, each byte of the length, the rest. That is five system calls
and a loop turn per message, about half of what a subscriber costs: measured on the benchmark's
mix (/ docs/deploy.md, "The ingest worker's figures"), 42-49 us a message for stock paho against
21-23 us with the two changes below.

- `_sock_recv` serves paho's small reads from a 64 KiB buffer filled by one `recv()`;
- `loop_read` parses every packet the socket holds before it goes back to `select()`: the
  socket is non-blocking, so the end of what was sent ends the turn. Nothing is held back from
  the loop's writes for long: the broker sends a subscriber at most its receive window (1,000
  unacknowledged messages) before it waits for acknowledgements.

Both replace private methods of paho 2.2.0, which pyproject.toml pins for this reason;
tests/test_mqtt_reads.py checks them against a real broker (packets split across reads, a
packet larger than the buffer, a reconnect).
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTErrorCode

CHUNK = 65_536


class BufferedReads(mqtt.Client):
    _rbuf = b""
    _rpos = 0
    _rsock: object = None  # the socket the buffer was read from: a new connection starts empty

    def _sock_recv(self, bufsize: int) -> bytes:
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
