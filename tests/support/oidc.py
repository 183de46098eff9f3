"""A stand-in for Google's OIDC signing: an RSA key, a self-signed X.509 certificate served as
{kid: PEM} (the format of https://www.googleapis.com/oauth2/v1/certs) from a local HTTP server,
and `mint(...)` to issue RS256 ID tokens shaped like the ones Cloud Tasks sends."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_pem: str

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-oidc-signer")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        return cls(kid=kid or uuid.uuid4().hex, private_key=key, certificate_pem=pem)


@dataclass
class OidcIssuer:
    """Serves `/certs` while entered; counts how often the certificates were fetched."""

    key: SigningKey = field(default_factory=SigningKey.generate)
    cache_control: str | None = None
    certs_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def certs_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/certs"

    def mint(
        self,
        *,
        audience: str,
        email: str,
        email_verified: Any = True,
        issuer: str = GOOGLE_ISSUER,
        expires_in: int = 3600,
        key: SigningKey | None = None,
        **extra: Any,
    ) -> str:
        """An ID token as Cloud Tasks would send it (signed by `key`, default the served one)."""
        signer = key or self.key
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "azp": "1234567890",
            "sub": "1234567890",
            "email": email,
            "email_verified": email_verified,
            "iat": min(now, now + expires_in - 60),
            "exp": now + expires_in,
            **extra,
        }
        headers = {"kid": signer.kid}
        return jwt.encode(claims, signer.private_key, algorithm="RS256", headers=headers)

    def __enter__(self) -> OidcIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/certs":
                    self.send_error(404)
                    return
                with issuer._lock:
                    issuer.certs_requests += 1
                body = json.dumps({issuer.key.kid: issuer.key.certificate_pem}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if issuer.cache_control:
                    self.send_header("Cache-Control", issuer.cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
