"""All settings in one typed object, read from the environment or `.env` (see `.env.example`).

With REDIS_URL / MQTT_URL unset, `python run.py` starts embedded servers on the EMBEDDED_* ports
and points everything at them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import CONFIG_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    redis_url: str | None = Field(None, description="External Redis/Valkey; unset = embedded")
    mqtt_url: str | None = Field(None, description="External MQTT broker; unset = embedded")
    data_dir: Path = Field(Path("var"), description="Embedded servers' data, benchmark reports")
    # Evidence files (photos, documents; named by their SHA-256). Unset: DATA_DIR/evidence. With
    # several web hosts, a folder every one of them mounts at this path (docs/deploy.md, 11):
    # a case file's photo uploaded on one host is served by any other.
    evidence_dir: Path | None = Field(None, description="Evidence files; unset = DATA_DIR/evidence")
    embedded_redis_port: int = Field(6390, ge=1, le=65535)
    embedded_mqtt_port: int = Field(1883, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_port: int = Field(8050, ge=1, le=65535)
    topic_prefix: str = Field("ecocommand", pattern=r"^[A-Za-z0-9_-]+$")
    mqtt_client_id: str = Field("ecocommand-ingest", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    mqtt_share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    # The worker speaks MQTT 5 to an external broker (INGEST_SOURCE=mqtt) and asks it to keep
    # its session this long after a disconnect or a crash: a worker started again with the same
    # MQTT_CLIENT_ID within it gets back every message it had not acknowledged, and what was
    # queued for it meanwhile (docs/deploy.md, 11). At expiry the broker drops all of that.
    mqtt_session_expiry_s: int = Field(
        86_400, ge=60, le=4_294_967_295, description="MQTT 5 session kept after a disconnect"
    )
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
    # Wall screens (services/walls.py): a session an admin issues for a named screen lasts this
    # many days from the screen's sign-in (nobody is there to sign in again at SESSION_HOURS);
    # its one-time sign-in link works for this many minutes. Revoking ends it at once.
    wall_session_days: int = Field(30, ge=1, le=366, description="A wall screen's session")
    wall_link_minutes: int = Field(15, ge=1, le=1_440, description="Its one-time link works")
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_lockout_s: int = Field(900, ge=1, le=86_400, description="Cap of a login lock")
    # Citizen reports (/report, no account): at most this many accepted per address and in all
    # over any hour, each request at most REPORT_MAX_BYTES (up to 3 photos), and each only with
    # a proof of work of REPORT_POW_BITS leading zero bits (2^bits SHA-256 on average: about
    # a second in a phone's browser at 16; nothing for one citizen, costly for a flood).
    report_limit_per_address: int = Field(5, ge=1, le=10_000, description="Per address per hour")
    report_limit_per_hour: int = Field(200, ge=1, le=1_000_000, description="All reports per hour")
    report_max_bytes: int = Field(16 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    report_pow_bits: int = Field(16, ge=0, le=28, description="Proof-of-work difficulty")
    # Reverse proxies in front of the web app (comma-separated addresses or networks, e.g.
    # "127.0.0.1,10.0.0.0/24"). A request from one of them is taken to come from the address
    # its X-Forwarded-For names (werkzeug's ProxyFix); from anyone else the header is ignored.
    # Unset behind a proxy, every client shares the proxy's address and sign-in throttling
    # treats the whole centre as one client.
    trusted_proxies: str = Field("", description="Proxy addresses whose X-Forwarded-For counts")
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
    # The vessel watch (config/vessel_rules.json has its other rules): a vessel last heard under
    # way in or near the district's waters and silent longer than this raises an AIS-gap alert
    # (class A under way reports every 2-10 s, class B every 30 s; receiver coverage is patchy,
    # so one threshold for both); its reappearance closes it, and a reappearance that implies
    # a speed above POSITION_JUMP_KN raises a position-jump alert.
    ais_gap_minutes: float = Field(10.0, gt=0, le=1_440, description="Silence of an AIS gap")
    position_jump_kn: float = Field(40.0, gt=0, le=1_000, description="Impossible speed (kn)")
    # Whole days of the track archive (Parquet under DATA_DIR/archive/) kept; older days pruned.
    archive_days: int = Field(180, ge=1, le=3_650)
    # Where field devices reach the broker (mqtt://host:1883 or mqtts://host:8883), written into
    # the QR code of a device added on the admin page; empty: this web address's host name with
    # the broker's port (MQTT_URL's, or EMBEDDED_MQTT_PORT). Never holds credentials.
    device_broker_url: str = Field("", description="The broker as devices reach it")
    # Live map: a tile URL template (https://host/{z}/{x}/{y}.png); empty = local basemap only.
    map_tiles_url: str = Field("", description="Map tile URL template; empty = no tiles")
    # TLS (docs/deploy.md, "4a. TLS"): with a certificate (full chain, PEM) and its key the web
    # app serves HTTPS itself (phones allow geolocation and service workers only in a secure
    # context), and the embedded broker adds an MQTT-over-TLS listener for field devices.
    web_tls_cert: FilePath | None = Field(None, description="Web app's certificate chain (PEM)")
    web_tls_key: FilePath | None = Field(None, description="Web app's private key (PEM)")
    mqtt_tls_cert: FilePath | None = Field(None, description="Embedded broker's certificate")
    mqtt_tls_key: FilePath | None = Field(None, description="Embedded broker's private key")
    embedded_mqtts_port: int = Field(8883, ge=1, le=65535)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, v: str) -> str:
        for item in filter(None, (p.strip() for p in v.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: {item!r} is no address or network") from None
        return v

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.trusted_proxies.split(",")
            if p.strip()
        )

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

    @field_validator("device_broker_url")
    @classmethod
    def _device_broker(cls, v: str) -> str:
        u = urlparse(v)
        if v and (u.scheme not in ("mqtt", "mqtts") or not u.hostname or u.username):
            raise ValueError("DEVICE_BROKER_URL must look like mqtt://host:1883, no user name")
        return v

    @field_validator("map_tiles_url")
    @classmethod
    def _tiles_scheme(cls, v: str) -> str:
        if v and (urlparse(v).scheme not in ("http", "https") or not urlparse(v).hostname):
            raise ValueError("MAP_TILES_URL must look like https://host/{z}/{x}/{y}.png")
        return v

    @model_validator(mode="after")
    def _tls_pairs(self) -> Settings:
        # one without the other is a half-done setup: fail at start, not at the first client
        for cert, key in (("web_tls_cert", "web_tls_key"), ("mqtt_tls_cert", "mqtt_tls_key")):
            if (getattr(self, cert) is None) != (getattr(self, key) is None):
                raise PydanticCustomError(
                    "tls_pair",
                    f"{cert.upper()} and {key.upper()} go together: set both or neither",
                )
        return self

    @property
    def web_url(self) -> str:
        """Where the web app answers: https:// when it serves TLS itself."""
        scheme = "https" if self.web_tls_cert is not None else "http"
        return f"{scheme}://{self.web_host}:{self.web_port}/"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    @property
    def effective_mqtt_url(self) -> str:
        return self.mqtt_url or f"mqtt://127.0.0.1:{self.embedded_mqtt_port}"

    @property
    def effective_evidence_dir(self) -> Path:
        """Where evidence files are, absolute: a relative DATA_DIR is the working directory's,
        whoever serves the file."""
        return (self.evidence_dir or self.data_dir / "evidence").resolve()

    @property
    def evidence_outside_data_dir(self) -> bool:
        """EVIDENCE_DIR names another folder than DATA_DIR/evidence: backups do not hold it."""
        return self.effective_evidence_dir != (self.data_dir / "evidence").resolve()

    @property
    def audit_keep_days(self) -> dict[str, int]:
        """Days kept per audit chain (by its name, domain.audit.Chain): what the signer prunes
        by, and what `audit verify` and the trail judge a deleted day against."""
        return {"record": self.audit_keep_record_days, "access": self.audit_keep_access_days}

    @property
    def embedded_redis_dir(self) -> Path:
        """The embedded Valkey's data folder (its AOF), where `restore` puts a backup's."""
        return self.data_dir / "redis"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
