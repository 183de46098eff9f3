"""How a file goes out: an artifact's bytes or its signed URL, and the console's page and
assets, each with the headers that say how it may be cached and shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Response

from core.storage.media import content_disposition, display_name

if TYPE_CHECKING:
    from core.services.artifacts import Download
    from core.services.console import ConsoleFile

# what the page may load and talk to: only this origin (images and downloads also from the
# blob: URLs it makes of files it fetched with the bearer token)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def download_response(download: Download) -> Response:
    """A redirect to the signed URL, or the bytes streamed as an attachment of their stored type;
    never cached by a shared cache, never sniffed."""
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if download.url is not None:
        return Response(status=302, headers=headers | {"Location": download.url})
    artifact = download.artifact
    headers |= {
        "Content-Type": artifact.content_type,
        "Content-Length": str(artifact.size_bytes),
        "Content-Disposition": content_disposition(display_name(artifact.name)),
        "ETag": f'"{artifact.sha256}"',
    }
    return Response(download.chunks, status=200, headers=headers, direct_passthrough=True)


def console_response(found: ConsoleFile) -> Response:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # the page names its assets by content hash: they never change, the page always may
        "Cache-Control": "no-cache" if found.page else "public, max-age=31536000, immutable",
    }
    if found.page:
        headers["Content-Security-Policy"] = CSP
    return Response(found.body, 200, headers, content_type=found.content_type)
