"""All settings in one typed object, read from the environment or `.env` (see `.env.example`).

With REDIS_URL / MQTT_URL unset, `python run.py` starts embedded servers on the EMBEDDED_* ports
and points everything at them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import CONFIG_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    redis_url: str | None = Field(None, description="External Redis/Valkey; unset = embedded")
    mqtt_url: str | None = Field(None, description="External MQTT broker; unset = embedded")
    data_dir: Path = Field(Path("var"), description="Embedded servers' data, benchmark reports")
    embedded_redis_port: int = Field(6390, ge=1, le=65535)
    embedded_mqtt_port: int = Field(1883, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_port: int = Field(8050, ge=1, le=65535)
    topic_prefix: str = Field("ecocommand", pattern=r"^[A-Za-z0-9_-]+$")
    mqtt_client_id: str = Field("ecocommand-ingest", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    mqtt_share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    # Where the worker reads field messages: "mqtt", subscribed to the broker (mosquitto, EMQX),
    # or "inbox", the Redis stream the embedded broker writes before each PUBACK (python run.py
    # sets it when it starts the embedded broker; see docs/architecture.md, "The broker").
    ingest_source: Literal["mqtt", "inbox"] = Field("mqtt")
    max_payload_bytes: int = Field(65_536, ge=256, le=16_777_216)
    # A message dated further ahead of its receipt is dead-lettered (ts_future): a device clock
    # ahead would otherwise hold live state, alerts and incident times for good. At most an
    # hour, so a device sending local time (UTC+8) as UTC is always caught.
    ingest_max_future_s: int = Field(
        300, ge=5, le=3_600, description="Seconds a message's ts may be ahead of its receipt"
    )
    history_hours: float = Field(24.0, gt=0, le=24 * 90)
    deadletter_maxlen: int = Field(100_000, ge=100)
    owntracks_map: Path = Field(CONFIG_DIR / "owntracks.json")
    # Web sign-in. Unset SECRET_KEY: one is generated once into DATA_DIR/secret_key (mode 0600),
    # so sessions survive restarts and every gunicorn worker signs with the same key.
    secret_key: SecretStr | None = Field(None, description="Signs session cookies")
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    cookie_secure: bool = Field(False, description="Cookies only over HTTPS (behind TLS proxy)")
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_lockout_s: int = Field(900, ge=1, le=86_400, description="Cap of a login lock")
    # The audit log (docs/architecture.md, "The record"): its heads are signed this often and at
    # each day's close, with this key (unset: one made on first start in DATA_DIR/audit/); whole
    # days are kept this long per chain: case, dispatch and account acts; sign-ins and reads.
    audit_sign_every_s: int = Field(300, ge=10, le=86_400)
    audit_signing_key: Path | None = Field(None, description="Ed25519 private key (PEM)")
    audit_keep_record_days: int = Field(1_827, ge=1, description="5 years")
    audit_keep_access_days: int = Field(366, ge=1, description="1 year")
    # Personal data: a citizen's phone number on an incident is erased this long after the
    # incident was opened (officers' tracks are kept HISTORY_HOURS in Redis).
    personal_phone_keep_days: int = Field(180, ge=1, le=3_650)
    # Live map: a tile URL template (https://host/{z}/{x}/{y}.png); empty = local basemap only.
    map_tiles_url: str = Field("", description="Map tile URL template; empty = no tiles")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v is not None and urlparse(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("REDIS_URL must look like redis://host:6379/0")
        return v

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, v: str | None) -> str | None:
        if v is not None:
            u = urlparse(v)
            if u.scheme not in ("mqtt", "mqtts", "tcp") or not u.hostname:
                raise ValueError("MQTT_URL must look like mqtt://host:1883")
        return v

    @field_validator("map_tiles_url")
    @classmethod
    def _tiles_scheme(cls, v: str) -> str:
        if v and (urlparse(v).scheme not in ("http", "https") or not urlparse(v).hostname):
            raise ValueError("MAP_TILES_URL must look like https://host/{z}/{x}/{y}.png")
        return v

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    @property
    def effective_mqtt_url(self) -> str:
        return self.mqtt_url or f"mqtt://127.0.0.1:{self.embedded_mqtt_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
