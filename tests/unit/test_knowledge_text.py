"""Documents to text to chunks to vectors, without a database: chunks hold at most their size in
tokens, overlap their neighbours, lose no word and keep paragraph breaks; HTML loses its markup
and scripts, a PDF gives its pages' text; the test embedder is deterministic, unit length and
lexical."""

from __future__ import annotations

import math
import re
from itertools import pairwise

import pytest

from core.knowledge.chunking import count_tokens, split_into_chunks
from core.knowledge.embedders import HashingEmbedder
from core.knowledge.reading import Unreadable, media_type_of, read_text
from tests.support.documents import pdf_with_pages


def topics_text() -> str:
    import pydoc_data.topics

    return "\n\n".join(list(pydoc_data.topics.topics.values())[:12])


def test_chunks_are_sized_in_tokens_overlap_and_lose_no_word() -> None:
    text = topics_text()
    chunks = split_into_chunks(text, size=120, overlap=20)
    assert len(chunks) > 20
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.tokens <= 120 for c in chunks)
    assert all(c.tokens == count_tokens(c.text) for c in chunks)
    words = set(re.findall(r"\w+", text))
    assert words == {w for c in chunks for w in re.findall(r"\w+", c.text)}
    # each chunk after the first begins with the end of the one before it
    shared = sum(1 for a, b in pairwise(chunks) if b.text.split()[0] in a.text)
    assert shared >= len(chunks) * 0.8


def test_paragraph_breaks_are_kept_and_a_huge_word_is_cut() -> None:
    [chunk] = split_into_chunks("# Title\n\nFirst sentence. Second one.\n\nNext paragraph.")
    assert chunk.text == "# Title\n\nFirst sentence. Second one.\n\nNext paragraph."
    cut = split_into_chunks("!" * 1000, size=100, overlap=10)
    assert all(c.tokens <= 100 for c in cut)
    assert sum(c.text.count("!") for c in cut) >= 1000
    assert split_into_chunks("  \n\n ") == []
    with pytest.raises(ValueError):
        split_into_chunks("text", size=10, overlap=10)


def test_html_loses_markup_scripts_and_styles() -> None:
    html = (
        "<html><head><style>p{}</style><script>steal()</script></head>"
        "<body><h1>Lunch</h1><p>Lasagne on <b>Thursdays</b>.</p></body></html>"
    )
    text = read_text(html.encode(), "text/html")
    assert "steal" not in text
    assert "p{}" not in text
    assert "Lunch" in text
    assert "Lasagne on Thursdays." in text


def test_a_pdf_gives_its_pages_text_and_a_broken_one_is_unreadable() -> None:
    text = read_text(pdf_with_pages("Badges open the door.", "Sign in here."), "application/pdf")
    assert "Badges open the door." in text
    assert "Sign in here." in text
    with pytest.raises(Unreadable):
        read_text(b"%PDF-1.4 nonsense", "application/pdf")
    with pytest.raises(Unreadable):
        read_text(b"\xff\xfe\x00bad", "text/plain")
    with pytest.raises(Unreadable):
        read_text(b"  ...  ", "text/plain")


def test_a_documents_type_is_what_its_bytes_name_or_declaration_say() -> None:
    assert media_type_of("x.bin", "application/octet-stream", b"%PDF-1.7") == "application/pdf"
    assert media_type_of("notes.md", None, b"# hi") == "text/markdown"
    assert media_type_of("page", "text/html; charset=utf-8", b"<p>") == "text/html"
    assert media_type_of("blob", "application/octet-stream", b"plain words") == "text/plain"
    assert media_type_of("image.png", "image/png", b"\x89PNG\r\n") is None


def test_the_test_embedder_is_deterministic_unit_length_and_lexical() -> None:
    embedder = HashingEmbedder(256)
    a, b, c = embedder.embed(
        ["Refunds are paid within 14 days.", "When are refunds paid?", "The cat sat on the mat."],
        "document",
    )
    assert embedder.embed(["Refunds are paid within 14 days."], "query")[0] == a
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-9 for v in (a, b, c))

    def cosine(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cosine(a, b) > cosine(a, c)
    assert HashingEmbedder(256).embed(["the of and"], "query")[0] == [0.0] * 256
