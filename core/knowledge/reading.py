"""A document's bytes read into text: plain text and Markdown as they are, HTML without its
markup (scripts and styles dropped, blocks kept as paragraphs), PDF page by page (pypdf)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

from core.errors import DomainError

# what a document may be, by media type; anything else is refused at upload (415)
READABLE = {
    "text/plain": "text",
    "text/markdown": "text",
    "text/x-markdown": "text",
    "text/csv": "text",
    "application/json": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
EXTENSIONS = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".pdf": "application/pdf",
}


class Unreadable(DomainError):
    """The document's bytes are not what its type says, or hold no text."""

    status = 422
    code = "document_unreadable"


def media_type_of(filename: str | None, declared: str | None, head: bytes) -> str | None:
    """The document's media type: what its bytes are (a PDF), else what the client declared,
    else what its name's extension says; None when none of them is readable."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    declared = (declared or "").split(";")[0].strip().lower()
    if declared in READABLE:
        return declared
    suffix = re.search(r"\.[A-Za-z0-9]+$", filename or "")
    by_name = EXTENSIONS.get(suffix.group(0).lower()) if suffix else None
    if by_name:
        return by_name
    if declared in ("", "application/octet-stream") and _looks_like_text(head):
        return "text/plain"
    return None


def read_text(content: bytes, media_type: str) -> str:
    """The document's text; Unreadable when there is none to be had."""
    kind = READABLE.get(media_type)
    if kind == "pdf":
        text = _pdf_text(content)
    else:
        try:
            decoded = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Unreadable("the document is not UTF-8 text") from None
        text = _html_text(decoded) if kind == "html" else decoded
    text = text.replace("\x00", "")
    if not re.search(r"\w", text):
        raise Unreadable("the document holds no text")
    return text


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is still text
        if exc.start < len(head) - 3:
            return False
    return b"\x00" not in head


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise Unreadable("the PDF is encrypted")
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise Unreadable("the PDF cannot be read") from None


BLOCKS = {
    "p", "div", "section", "article", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
    "pre", "blockquote", "table", "ul", "ol", "dl", "dt", "dd", "header", "footer", "main",
}  # fmt: skip
HIDDEN = {"script", "style", "noscript", "template", "head", "svg"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self.hidden += 1
        elif tag in BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)
