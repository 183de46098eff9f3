"""Headers every answer carries: `X-Content-Type-Options: nosniff` (a browser never guesses a
type the service did not send), and behind TLS (the request came as https, as the load balancer
says in X-Forwarded-Proto) `Strict-Transport-Security`, so a browser that met the API once never
speaks plain HTTP to it again. The load balancer adds the same HSTS itself (Terraform)."""

from __future__ import annotations

from flask import Flask, Response, request

HSTS = "max-age=31536000; includeSubDomains"


def install_security_headers(app: Flask) -> None:
    app.after_request(_secure)


def _secure(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if request.scheme == "https" or forwarded == "https":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
