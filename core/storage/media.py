"""File names and content types of stored files: cleaned for display, made safe for object keys
and HTTP headers, and checked lightly against the bytes."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import quote

OCTET_STREAM = "application/octet-stream"
MAX_NAME_BYTES = 255
MAX_KEY_NAME_CHARS = 100
SNIFF_BYTES = 8192

# type "/" subtype, as RFC 9110 tokens; parameters other than charset are dropped
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_CHARSET = re.compile(r"^[a-z0-9][a-z0-9_.:+-]{0,39}$")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# magic numbers of common formats: what the bytes say wins over a generic declaration
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)


def display_name(raw: str | None, *, default: str = "file") -> str:
    """The last path component of a client-supplied name, without control characters, in NFC,
    at most 255 UTF-8 bytes (the extension kept)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in ("", ".", ".."):
        return default
    if len(name.encode()) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and 0 < len(ext) <= 16 else ""
        room = MAX_NAME_BYTES - len(ext.encode()) - (1 if ext else 0)
        stem = (stem if ext else name).encode()[:room].decode(errors="ignore")
        name = f"{stem}.{ext}" if ext else stem
    return name


def key_name(name: str) -> str:
    """An ASCII spelling of a file name for object keys: letters, digits, '.', '_' and '-'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = _KEY_UNSAFE.sub("_", ascii_name)
    stem, dot, ext = safe.rpartition(".")
    if not dot or not 0 < len(ext.strip("_-")) <= 16:
        stem, ext = safe, ""
    stem, ext = stem.strip("._-"), ext.strip("_-")
    stem = stem[: MAX_KEY_NAME_CHARS - len(ext) - 1] or "file"
    return f"{stem}.{ext}" if ext else stem


def content_type_for(filename: str, declared: str | None, head: bytes) -> str:
    """The content type to store: the declared one when it is well formed and not contradicted
    by the bytes, else one guessed from the bytes and the file name.

    A declared type is lower-cased and keeps only a charset parameter. Binary content is never
    labelled as text, and a known signature (PNG, PDF, ...) wins over a generic declaration."""
    sniffed = _signature_type(head)
    looks_text = _looks_like_text(head)
    declared_type = _clean_type(declared)
    if declared_type is not None and declared_type.split(";")[0] != OCTET_STREAM:
        base = declared_type.split(";")[0]
        if base.startswith("text/") and not looks_text:
            return sniffed or OCTET_STREAM
        return declared_type
    if sniffed is not None:
        return sniffed
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    if guessed is not None:
        if guessed.startswith("text/") and not looks_text:
            return OCTET_STREAM
        return guessed
    return "text/plain; charset=utf-8" if looks_text and head else OCTET_STREAM


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = key_name(filename).replace('"', "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _clean_type(declared: str | None) -> str | None:
    if not declared:
        return None
    base, *params = (part.strip() for part in declared.lower().split(";"))
    if not _MEDIA_TYPE.match(base):
        return None
    for param in params:
        name, _, value = param.partition("=")
        value = value.strip().strip('"')
        if name.strip() == "charset" and _CHARSET.match(value):
            return f"{base}; charset={value}"
    return base


def _signature_type(head: bytes) -> str | None:
    for magic, media_type in _SIGNATURES:
        if head.startswith(magic):
            return media_type
    return None


def _looks_like_text(head: bytes) -> bool:
    sample = head[:SNIFF_BYTES]
    if b"\0" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still text
        return exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
    return True
