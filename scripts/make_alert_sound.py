"""Writes assets/sounds/alert.wav, the console's alert tone (assets/sound.js): two short tones,
880 Hz then 660 Hz, with soft edges (no clicks), 22.05 kHz 16-bit mono. Run from the repository
root: `python scripts/make_alert_sound.py`."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 22_050
OUT = Path(__file__).resolve().parent.parent / "assets" / "sounds" / "alert.wav"


def tone(freq: float, seconds: float, volume: float = 0.5) -> bytes:
    n = int(RATE * seconds)
    out = bytearray()
    for i in range(n):
        edge = min(1.0, i / (0.01 * RATE), (n - i) / (0.02 * RATE))
        sample = volume * edge * math.sin(2 * math.pi * freq * i / RATE)
        out += struct.pack("<h", int(32767 * sample))
    return bytes(out)


def main() -> None:
    frames = tone(880, 0.18) + tone(0, 0.06, 0) + tone(660, 0.22)
    with wave.open(str(OUT), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)


if __name__ == "__main__":
    main()
