"""TLS as a user sets it up: `python run.py web` with WEB_TLS_CERT/KEY serves HTTPS (HSTS, Secure
cookies, no plain HTTP on its port), and the embedded broker with MQTT_TLS_CERT/KEY offers an
MQTT-over-TLS listener behind the same gate as its plain one. The certificates are made here: a
test CA and a server certificate it signed for 127.0.0.1 and localhost."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import redis
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from config.settings import Settings
from domain.clock import system_ms
from embedded.processes import ServerProcess, amqtt_broker, free_port
from embedded.supervisor import _broker_where
from store import devices, keys, reader, users
from tests.helpers import PASSWORD, ROOT, wait_for

PREFIX = "ecocommand"
# the variables a developer's shell may hold for their own instance; the tests set their own
OWN_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("REDIS_", "MQTT_", "EMBEDDED_", "WEB_", "DATA_DIR", "COOKIE_"))
}


# == certificates ==============================================================================


@dataclass(frozen=True)
class Certs:
    ca: Path  # what clients trust
    cert: Path  # the server's certificate
    key: Path  # its private key
    other_key: Path  # a key that does not belong to `cert`


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(_name("ecocommand test CA"))
        .issuer_name(_name("ecocommand test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_cert(
    key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca.not_valid_before_utc)
        .not_valid_after(ca.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("tls")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _ca(ca_key, dt.datetime.now(dt.UTC))
    out = Certs(folder / "ca.pem", folder / "cert.pem", folder / "key.pem", folder / "other.pem")
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # the chain as a real deployment has it (fullchain.pem): server certificate, then the CA's
    chain = _server_cert(key, ca, ca_key).public_bytes(serialization.Encoding.PEM)
    out.cert.write_bytes(chain + out.ca.read_bytes())
    for path, k in ((out.key, key), (out.other_key, ec.generate_private_key(ec.SECP256R1()))):
        path.write_bytes(_pem(k))
        path.chmod(0o600)
    return out


# == the web app ===============================================================================


@dataclass
class Web:
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _web_env(redis_port: int, mqtt_port: int, data_dir: Path, port: int) -> dict[str, str]:
    return OWN_ENV | {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "DATA_DIR": str(data_dir),
    }


def _wait_for_https(web: Web, proc: subprocess.Popen, ca: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the web app exited with {proc.returncode}:\n{web.log.read_text()}")
        try:
            if requests.get(f"{web.base}/login", verify=ca, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no HTTPS answer within 90 s:\n{web.log.read_text()}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def web(
    redis_srv: ServerProcess,
    broker: ServerProcess,
    certs: Certs,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Web]:
    """`python run.py web` (gunicorn, as deployed) with WEB_TLS_CERT/KEY, on a free port."""
    folder = tmp_path_factory.mktemp("web")
    w = Web(free_port(), folder / "web.log")
    env = _web_env(redis_srv.port, broker.port, folder / "var", w.port)
    env |= {"WEB_TLS_CERT": str(certs.cert), "WEB_TLS_KEY": str(certs.key)}
    with w.log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "run.py", "web"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        _wait_for_https(w, proc, certs.ca)
        yield w
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _set_cookies(resp: requests.Response) -> dict[str, str]:
    """Name -> the whole Set-Cookie line, as the server sent it."""
    lines = resp.raw.headers.getlist("Set-Cookie")
    return {line.split("=", 1)[0]: line for line in lines}


def _secure(line: str) -> bool:
    return "secure" in [a.strip().lower() for a in line.split(";")]


def test_the_web_app_serves_https_with_hsts_and_secure_cookies(
    web: Web, certs: Certs, r: redis.Redis
) -> None:
    assert f"web: https://127.0.0.1:{web.port}/" in web.log.read_text()
    page = requests.get(f"{web.base}/login", verify=certs.ca, timeout=30)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = _set_cookies(page)
    assert "session" in cookies and _secure(cookies["session"]), cookies

    # a whole sign-in, as a browser does it over HTTPS (Flask-WTF then also wants the Referer
    # of a page of this origin, which the same-origin Referrer-Policy lets browsers send)
    users.create_user(r, "chief", "dispatcher", PASSWORD)
    s = requests.Session()  # verify on each call: REQUESTS_CA_BUNDLE would beat s.verify
    form = s.get(f"{web.base}/login", verify=certs.ca, timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    signed = s.post(
        f"{web.base}/login",
        data={"csrf_token": token, "username": "chief", "password": PASSWORD, "next": "/"},
        headers={"Referer": f"{web.base}/login"},
        verify=certs.ca,
        allow_redirects=False,
        timeout=30,
    )
    assert signed.status_code == 302, signed.text
    assert _secure(_set_cookies(signed)["session"])
    home = s.get(f"{web.base}/", verify=certs.ca, timeout=30)
    assert home.status_code == 200 and home.url == f"{web.base}/"  # not sent back to /login
    assert _secure(_set_cookies(home)["_csrf_token"])


def test_healthz_answers_over_https(web: Web, certs: Certs) -> None:
    body = requests.get(f"{web.base}/healthz", verify=certs.ca, timeout=30).json()
    assert body["redis"]["ok"] is True and body["broker"]["ok"] is True


def test_plain_http_to_the_https_port_gets_no_page(web: Web) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{web.port}/login", timeout=30)


def test_a_client_that_does_not_trust_the_certificate_is_stopped(web: Web) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{web.base}/login", timeout=30)  # the system's CAs only


def _run_web(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "run.py", "web"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        ({"WEB_TLS_CERT": "cert"}, "WEB_TLS_CERT and WEB_TLS_KEY go together"),
        ({"MQTT_TLS_KEY": "key"}, "MQTT_TLS_CERT and MQTT_TLS_KEY go together"),
        ({"WEB_TLS_CERT": "cert", "WEB_TLS_KEY": "missing"}, "setting WEB_TLS_KEY: Path does"),
        ({"WEB_TLS_CERT": "cert", "WEB_TLS_KEY": "other_key"}, "WEB_TLS_CERT / WEB_TLS_KEY cannot"),
    ],
)
def test_a_bad_tls_setup_stops_the_start_with_one_line(
    tls: dict[str, str], expected: str, certs: Certs, tmp_path: Path
) -> None:
    files = {"cert": certs.cert, "key": certs.key, "other_key": certs.other_key}
    env = _web_env(1, 1, tmp_path / "var", free_port())
    env |= {name: str(files.get(which, tmp_path / which)) for name, which in tls.items()}
    out = _run_web(env)
    assert out.returncode == 2, out.stderr
    assert expected in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# == the embedded broker =======================================================================


@dataclass
class Broker:
    srv: ServerProcess
    tls_port: int
    log: Path


@pytest.fixture(scope="module")
def amqtt_tls(
    redis_srv: ServerProcess, certs: Certs, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    """The embedded broker with MQTT_TLS_CERT/KEY: its plain listener and a TLS one."""
    log = tmp_path_factory.mktemp("amqtt-tls") / "broker.log"
    tls_port = free_port()
    env = {
        "MQTT_TLS_CERT": str(certs.cert),
        "MQTT_TLS_KEY": str(certs.key),
        "EMBEDDED_MQTTS_PORT": str(tls_port),
    }
    srv = amqtt_broker(f"redis://127.0.0.1:{redis_srv.port}/0", log=log, extra_env=env)
    try:
        # start() waits for the plain listener; the TLS one is bound right after it
        wait_for(lambda: _listening(tls_port), 20, "the TLS listener")
        yield Broker(srv, tls_port, log)
    finally:
        srv.stop()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class TlsConn:
    """A paho client over TLS trusting `ca` (None: the system's CAs), CONNACK recorded."""

    def __init__(self, port: int, ca: Path | None, auth: tuple[str, str] | None, cid: str) -> None:
        self.connack: list[Any] = []
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
        c.tls_set(ca_certs=str(ca) if ca else None)
        if auth:
            c.username_pw_set(*auth)
        c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.append(rc)
        c.reconnect_delay_set(5, 5)  # a refused client retries rarely
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port)  # the TLS handshake, hostname check included
        c.loop_start()
        self.client = c
        wait_for(lambda: self.connack, 20, "a CONNACK over TLS")

    @property
    def accepted(self) -> bool:
        return not self.connack[0].is_failure

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=20)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _refused(r: redis.Redis, identity: str, reason: str) -> int:
    return reader.broker_refusals(r).get(identity, {}).get(reason, 0)


def test_the_broker_tls_listener_admits_roster_devices_on_their_own_topics(
    amqtt_tls: Broker, certs: Certs, r: redis.Redis
) -> None:
    assert f"TLS on 127.0.0.1:{amqtt_tls.tls_port}" in amqtt_tls.log.read_text()
    unit = ("U-TLS1", devices.add(r, "U-TLS1", "unit", system_ms()))

    anonymous = TlsConn(amqtt_tls.tls_port, certs.ca, None, "anon-tls")
    assert not anonymous.accepted and str(anonymous.connack[0]) == "Not authorized"
    anonymous.close()
    wait_for(lambda: _refused(r, "anonymous", "anonymous") >= 1, 10, "the refusal counted")

    device = TlsConn(amqtt_tls.tls_port, certs.ca, unit, "unit-U-TLS1")
    assert device.accepted
    device.publish(f"{PREFIX}/units/U-TLS2/position", b'{"forged": true}')  # acked, dropped
    device.publish(f"{PREFIX}/units/U-TLS1/position", b'{"mine": true}')
    device.close()
    # PUBACK came after the inbox write: the accepted message is in Redis already
    inbox = [(e[1][b"t"].decode(), e[1][b"p"], e[1][b"by"]) for e in r.xrange(keys.INGEST_INBOX)]
    assert inbox == [(f"{PREFIX}/units/U-TLS1/position", b'{"mine": true}', b"U-TLS1")]
    wait_for(lambda: _refused(r, unit[0], "publish_denied") >= 1, 10, "the forgery counted")


def test_the_broker_tls_listener_speaks_only_tls(amqtt_tls: Broker) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        TlsConn(amqtt_tls.tls_port, None, None, "no-trust")  # the system's CAs only
    # a plain MQTT CONNECT on the TLS port: a TLS alert or a closed connection, never a CONNACK
    connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04tls1"
    with socket.create_connection(("127.0.0.1", amqtt_tls.tls_port), timeout=30) as s:
        s.sendall(connect)
        try:
            answer = s.recv(16)
        except ConnectionResetError:
            answer = b""
    assert answer[:1] != b"\x20", answer


def test_the_supervisor_names_the_mqtts_listener_and_checks_its_pair(certs: Certs) -> None:
    port = free_port()
    s = Settings(
        mqtt_tls_cert=certs.cert, mqtt_tls_key=certs.key, embedded_mqtts_port=port, _env_file=None
    )
    assert f"mqtts://127.0.0.1:{port}" in _broker_where(s)
    # a wrong key: one line before anything starts, not a broker dying at its first listener
    with pytest.raises(ValueError, match="MQTT_TLS_CERT / MQTT_TLS_KEY cannot be used"):
        _broker_where(s.model_copy(update={"mqtt_tls_key": certs.other_key}))
