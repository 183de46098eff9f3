"""Webhooks: the signature, which destinations are allowed (after DNS, on every redirect), and how
a delivery's outcome is classified. Deliveries go to a local receiver through the allowlist."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core import egress
from core.config import Settings
from core.egress import PUBLIC_URL_PATTERN, is_public_address
from core.errors import Invalid, NotFound
from core.tasks.auth import tasks_shared_secret
from core.webhooks import (
    check_webhook_url,
    deliver,
    sign,
    signature_headers,
    signing_secrets,
    verify,
    webhook_secret_for,
)
from tests.support.tasks_emulator import Receiver, Recorded, Reply, free_port

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
SETTINGS = Settings.from_environ({"SECRET_KEY": "w" * 48})
PUBLIC = "93.184.215.14"
REAL_GETADDRINFO = socket.getaddrinfo


def settings(allowed: str = "127.0.0.1", timeout: float = 2.0) -> Settings:
    return SETTINGS.model_copy(
        update={"webhook_allowed_hosts": allowed, "webhook_timeout_s": timeout}
    )


# signing (Standard Webhooks)


def test_a_signature_is_what_the_standard_webhooks_library_computes() -> None:
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    body = b'{"status":"succeeded"}'
    headers = signature_headers("msg_1", body, [SECRET], 1700000000)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    reference = Webhook(SECRET).sign(
        "msg_1", datetime.fromtimestamp(1700000000, tz=UTC), body.decode()
    )
    assert headers["webhook-signature"] == reference
    assert sign("msg_1", 1700000000, body, SECRET) == reference


def test_the_standard_webhooks_library_verifies_a_signature() -> None:
    from standardwebhooks import Webhook

    body = b'{"id":"e1"}'
    headers = signature_headers("msg_2", body, [SECRET], int(time.time()))
    assert Webhook(SECRET).verify(body.decode(), headers) == {"id": "e1"}
    assert verify(body, SECRET, headers)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b, s, h: (b + b" ", s, h),  # body changed
        lambda b, s, h: (b, OTHER_SECRET, h),  # wrong secret
        lambda b, s, h: (b, s, h | {"webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
        lambda b, s, h: (b, s, h | {"webhook-id": "msg_other"}),  # another message's id
        lambda b, s, h: (
            b,
            s,
            h | {"webhook-signature": h["webhook-signature"].replace("v1,", "v2,")},
        ),
        lambda b, s, h: (b, s, h | {"webhook-signature": h["webhook-signature"][:-3] + "AA="}),
        lambda b, s, h: (b, s, h | {"webhook-timestamp": "soon"}),
    ],
)
def test_tampering_is_detected(tamper: Callable[..., tuple[bytes, str, dict[str, str]]]) -> None:
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    body = b'{"id":"e1","status":"failed"}'
    headers = signature_headers("msg_3", body, [SECRET], int(time.time()))
    tampered_body, secret, tampered = tamper(body, SECRET, headers)
    assert not verify(tampered_body, secret, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered_body.decode(), tampered)


def test_stale_timestamp_is_rejected() -> None:
    body = b"{}"
    old = int(time.time()) - 600
    headers = signature_headers("msg_4", body, [SECRET], old)
    assert not verify(body, SECRET, headers)
    assert verify(body, SECRET, headers, now=old + 10)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    from standardwebhooks import Webhook

    body = b"{}"
    headers = signature_headers("msg_5", body, [SECRET, OTHER_SECRET], int(time.time()))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OTHER_SECRET):
        assert verify(body, secret, headers)
        Webhook(secret).verify(body.decode(), headers)


def test_webhook_secret_is_per_user_version_and_stable() -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    secret = webhook_secret_for(SETTINGS, alice)
    assert secret == webhook_secret_for(SETTINGS, str(alice))
    assert secret != webhook_secret_for(SETTINGS, bob)
    assert secret != webhook_secret_for(SETTINGS, alice, 1)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert tasks_shared_secret(SETTINGS) not in secret


def test_the_previous_secret_signs_for_a_day_after_a_rotation() -> None:
    from datetime import UTC, datetime, timedelta

    alice = uuid.uuid4()
    now = datetime(2026, 12, 3, tzinfo=UTC)
    current, previous = (webhook_secret_for(SETTINGS, alice, v) for v in (3, 2))
    assert signing_secrets(SETTINGS, alice, 3, now - timedelta(hours=1), now) == [current, previous]
    assert signing_secrets(SETTINGS, alice, 3, now - timedelta(hours=25), now) == [current]
    assert signing_secrets(SETTINGS, alice, 0, None, now) == [webhook_secret_for(SETTINGS, alice)]


# destinations


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Test host names and what they resolve to; other names resolve for real."""
    table: dict[str, list[str]] = {
        "hooks.example.test": [PUBLIC],
        "dual.example.test": [PUBLIC, "2606:4700::1111"],
        "internal.example.test": ["10.1.2.3"],
        "mixed.example.test": [PUBLIC, "10.0.0.5"],
        "mapped.example.test": ["::ffff:192.168.0.10"],
        "meta.example.test": ["169.254.169.254"],
        "hooks.internal": ["127.0.0.1"],
    }
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in table:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        lookups.append(name)
        if not table[name]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, int(port or 0), 0, 0) if ":" in ip else (ip, int(port or 0)),
            )
            for ip in table[name]
        ]

    monkeypatch.setattr(egress.socket, "getaddrinfo", getaddrinfo)
    table["__lookups__"] = lookups  # read back by tests
    return table


REFUSED = [
    "http://hooks.example.test/hook",
    "ftp://hooks.example.test/hook",
    "javascript:alert(1)",
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://localhost/hook",
    "https://10.0.0.1/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://[64:ff9b::7f00:1]/hook",
    "https://[2002:7f00:1::]/hook",
    "https://[ff02::1]/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://METADATA.google.internal./computeMetadata/v1/",
    "https://user:pass@hooks.example.test/hook",
    "https://user@hooks.example.test/hook",
    "https://hooks.example.test\\@127.0.0.1/hook",
    "https://hooks.example.test/a b",
    "https:///hook",
    "https://hooks.example.test:99999/hook",
    "https://internal.example.test/hook",
    "https://mixed.example.test/hook",
    "https://mapped.example.test/hook",
    "https://meta.example.test/hook",
    "https://hooks.example.test/" + "x" * 2000,
]


@pytest.mark.usefixtures("dns")
@pytest.mark.parametrize("url", REFUSED)
def test_unsafe_destinations_are_refused(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_webhook_url(url, settings(allowed=""))
    (detail,) = refused.value.details
    assert detail["loc"] == ["body", "webhook_url"]
    assert detail["path"] == "webhook_url"
    assert refused.value.status == 422


@pytest.mark.usefixtures("dns")
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.test/hook",
        "https://hooks.example.test:8443/hook?x=1",
        "https://dual.example.test/hook",
        "https://HOOKS.example.test./hook",
    ],
)
def test_public_https_destinations_are_accepted(url: str) -> None:
    check_webhook_url(url, settings(allowed=""))
    assert re.fullmatch(PUBLIC_URL_PATTERN, url)  # what the document states, exactly


@pytest.mark.usefixtures("dns")
@pytest.mark.parametrize("url", ["https://1.1.1.1/hook", "https://[2606:4700::1111]/hook"])
def test_a_destination_is_named_not_addressed_even_a_public_one(url: str) -> None:
    """The document can state a name's shape; whether an address is public it cannot."""
    with pytest.raises(Invalid) as refused:
        check_webhook_url(url, settings(allowed=""))
    assert refused.value.details[0]["type"] == "url_syntax"
    assert not re.fullmatch(PUBLIC_URL_PATTERN, url)


def test_a_host_that_does_not_resolve_is_not_found(dns: dict[str, list[str]]) -> None:
    dns["gone.example.test"] = []
    with pytest.raises(NotFound) as missing:
        check_webhook_url("https://gone.example.test/hook", settings(allowed=""))
    assert missing.value.status == 404
    assert missing.value.code == "host_not_found"
    assert missing.value.details[0]["type"] == "url_unresolvable"


@pytest.mark.usefixtures("dns")
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1/hook",
        "http://localhost:3000/hook",
        "http://hooks.internal/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_allowlisted_hosts_may_be_private_and_plain_http(url: str) -> None:
    check_webhook_url(url, settings(allowed=" 127.0.0.1, localhost,HOOKS.internal,[::1]"))


@pytest.mark.usefixtures("dns")
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://meta.example.test/",
    ],
)
def test_metadata_server_is_refused_even_when_allowlisted(url: str) -> None:
    allowed = "169.254.169.254,metadata.google.internal,meta.example.test"
    with pytest.raises(Invalid):
        check_webhook_url(url, settings(allowed=allowed))


def test_allowlist_is_per_host_not_per_address(dns: dict[str, list[str]]) -> None:
    with pytest.raises(Invalid):
        check_webhook_url("https://hooks.internal/hook", settings(allowed="127.0.0.1"))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("100.63.255.255", True),
        ("100.64.0.0", False),
        ("100.127.255.255", False),
        ("198.18.0.1", False),
        ("192.0.2.1", False),
        ("::ffff:8.8.8.8", False),  # mapped forms are never what a public host resolves to
        ("2001:db8::1", False),
        ("64:ff9b::808:808", False),  # NAT64 sits in ::/8, reserved: refused whatever it wraps
        ("64:ff9b::a00:1", False),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo to 10.0.0.1
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


# delivery


PAYLOAD = {"id": "e1", "status": "succeeded", "output": {"text": "héllo"}}


def replies(*scripted: Reply) -> Callable[[Recorded], Reply]:
    queue = list(scripted)
    return lambda _request: queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def test_delivery_posts_signed_json(receiver: Receiver) -> None:
    result = deliver(
        receiver.url + "/hooks/agents", PAYLOAD, [SECRET], settings(), message_id="msg_t"
    )
    assert result.ok
    assert result.status_code == 200
    (request,) = receiver.requests
    assert request.path == "/hooks/agents"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == PAYLOAD
    assert request.headers["webhook-id"] == "msg_t"
    assert verify(request.body, SECRET, request.headers)


def test_delivery_connects_to_the_address_it_checked(
    receiver: Receiver, dns: dict[str, Any]
) -> None:
    """One resolution per request; httpx connects to that address, so a DNS answer that
    changes between check and connect (rebinding) is never used. The Host header keeps the
    name."""
    url = f"http://hooks.internal:{receiver.port}/hook"
    result = deliver(url, PAYLOAD, [SECRET], settings(allowed="hooks.internal"), message_id="msg_t")
    assert result.ok
    assert receiver.requests[0].headers["Host"] == f"hooks.internal:{receiver.port}"
    assert dns["__lookups__"] == ["hooks.internal"]


def tls_files(tmp_path: Path, host: str) -> tuple[Path, ssl.SSLContext]:
    """A CA certificate file and a server context whose certificate (signed by that CA) names
    `host`."""
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: x509.Name, public: Any, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = build("test-ca", ca_name, ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(host, ca_name, key.public_key(), ca_key, ca=False)
    ca_file, chain, key_file = tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    return ca_file, context


@pytest.mark.parametrize(("certificate_for", "ok"), [("hooks.internal", True), ("other", False)])
def test_https_to_a_pinned_address_verifies_the_certificate_for_the_host_name(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dns: dict[str, Any],
    certificate_for: str,
    ok: bool,
) -> None:
    """Connecting to the checked IP must not weaken TLS: SNI and the certificate check still use
    the URL's host name."""
    ca_file, context = tls_files(tmp_path, certificate_for)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with Receiver(tls=context) as server:
        url = f"https://hooks.internal:{server.port}/hook"
        result = deliver(
            url, PAYLOAD, [SECRET], settings(allowed="hooks.internal"), message_id="msg_t"
        )
    assert result.ok is ok
    assert len(server.requests) == (1 if ok else 0)
    if not ok:
        assert result.retryable


def test_redirect_to_a_private_address_is_refused() -> None:
    with Receiver(replies((307, {"Location": "https://10.0.0.1/steal"}, b""))) as server:
        result = deliver(server.url + "/hook", PAYLOAD, [SECRET], settings(), message_id="msg_t")
    assert not result.ok
    assert not result.retryable
    assert result.status_code == 307
    assert "not allowed" in (result.error or "")
    assert len(server.requests) == 1


def test_redirect_to_the_metadata_server_is_refused() -> None:
    location = "http://metadata.google.internal/computeMetadata/v1/"
    with Receiver(replies((302, {"Location": location}, b""))) as server:
        result = deliver(server.url + "/hook", PAYLOAD, [SECRET], settings(), message_id="msg_t")
    assert not result.ok
    assert not result.retryable


def test_allowed_redirect_is_followed_with_the_same_signed_body() -> None:
    with Receiver(replies((308, {"Location": "/moved"}, b""), (202, {}, b""))) as server:
        result = deliver(server.url + "/hook", PAYLOAD, [SECRET], settings(), message_id="msg_t")
        first, second = server.wait_for(2)
    assert result.ok
    assert result.status_code == 202
    assert [first.path, second.path] == ["/hook", "/moved"]
    assert second.body == first.body
    assert second.headers["webhook-signature"] == first.headers["webhook-signature"]


def test_redirects_stop_after_three() -> None:
    with Receiver(replies((302, {"Location": "/again"}, b""))) as server:
        result = deliver(server.url + "/hook", PAYLOAD, [SECRET], settings(), message_id="msg_t")
    assert not result.ok
    assert not result.retryable
    assert len(server.requests) == 4
    assert result.error == "more than 3 redirects"


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (204, True, False),
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (410, False, False),
        (422, False, False),
        (408, False, True),
        (425, False, True),
        (429, False, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
        (504, False, True),
    ],
)
def test_outcome_classification(status: int, ok: bool, retryable: bool) -> None:
    with Receiver(replies((status, {}, b""))) as server:
        result = deliver(server.url, PAYLOAD, [SECRET], settings(), message_id="msg_t")
    assert (result.status_code, result.ok, result.retryable) == (status, ok, retryable)


def test_retry_after_is_passed_on() -> None:
    with Receiver(replies((429, {"Retry-After": "7"}, b""))) as server:
        result = deliver(server.url, PAYLOAD, [SECRET], settings(), message_id="msg_t")
    assert result.retryable
    assert result.retry_after_s == 7


def test_connection_refused_is_retryable() -> None:
    result = deliver(
        f"http://127.0.0.1:{free_port()}/hook", PAYLOAD, [SECRET], settings(), message_id="msg_t"
    )
    assert result.status_code is None
    assert result.retryable
    assert result.error


def test_timeout_is_retryable() -> None:
    def slow(_request: Recorded) -> Reply:
        time.sleep(0.5)
        return 200, {}, b""

    with Receiver(slow) as server:
        started = time.monotonic()
        result = deliver(server.url, PAYLOAD, [SECRET], settings(timeout=0.1), message_id="msg_t")
    assert time.monotonic() - started < 0.45
    assert result.retryable
    assert result.error == "timed out"


@pytest.mark.usefixtures("dns")
def test_refused_destination_is_final_and_sends_nothing() -> None:
    result = deliver(
        "https://internal.example.test/hook",
        PAYLOAD,
        [SECRET],
        settings(allowed=""),
        message_id="msg_t",
    )
    assert not result.ok
    assert not result.retryable
    assert result.status_code is None


def test_unresolvable_host_is_retried_later(dns: dict[str, list[str]]) -> None:
    dns["gone.example.test"] = []
    result = deliver(
        "https://gone.example.test/hook",
        PAYLOAD,
        [SECRET],
        settings(allowed=""),
        message_id="msg_t",
    )
    assert result.retryable
    assert result.status_code is None


def test_module_imports_no_http_client() -> None:
    import subprocess
    import sys

    code = "import sys, core.webhooks; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
