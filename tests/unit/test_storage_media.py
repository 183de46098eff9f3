"""File names and content types of stored files."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from core.storage.media import content_disposition, content_type_for, display_name, key_name

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("", "file"),
        (None, "file"),
        ("..", "file"),
        ("  spaced name.md  ", "spaced name.md"),
        ("Cafe\u0301.txt", "Café.txt"),  # NFC
    ],
)
def test_display_name_is_the_clean_last_component(raw, expected):
    assert display_name(raw) == expected


def test_display_name_keeps_the_extension_when_shortened():
    name = display_name("é" * 300 + ".tar")
    assert len(name.encode()) <= 255
    assert name.endswith(".tar")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("Café résumé (final).docx", "Cafe_resume_final.docx"),
        ("日本語.txt", "file.txt"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("name.with-a-very-long-extension", "name.with-a-very-long-extension"),
        ("...", "file"),
        ("a b/c", "a_b_c"),
    ],
)
def test_key_name_is_plain_ascii(name, expected):
    assert key_name(name) == expected


def test_key_name_is_bounded_and_keeps_the_extension():
    assert key_name("x" * 500 + ".json") == "x" * 95 + ".json"


@pytest.mark.parametrize(
    ("filename", "declared", "head", "expected"),
    [
        ("a.txt", "text/plain; charset=UTF-8", b"hello", "text/plain; charset=utf-8"),
        ("a.txt", "Text/Plain; boundary=x", b"hello", "text/plain"),
        ("a.png", "application/octet-stream", PNG, "image/png"),
        ("a.bin", None, PNG, "image/png"),
        ("a.csv", None, b"a,b\n1,2\n", "text/csv"),
        ("data", None, b"just words", "text/plain; charset=utf-8"),
        ("data", None, b"\x00\x01\x02", "application/octet-stream"),
        ("data", "not a type", b"\x00\x01", "application/octet-stream"),
        # binary bytes are never labelled as text, whatever the client or the name says
        ("a.txt", "text/plain", b"\x00\x01binary", "application/octet-stream"),
        ("a.txt", None, b"\x00\x01binary", "application/octet-stream"),
        ("a.txt", "text/html", PNG, "image/png"),
        ("doc.pdf", "application/pdf", b"%PDF-1.7", "application/pdf"),
        ("empty", None, b"", "application/octet-stream"),
    ],
)
def test_content_type_is_the_declared_one_unless_the_bytes_disagree(
    filename, declared, head, expected
):
    assert content_type_for(filename, declared, head) == expected


def test_a_multibyte_character_cut_by_the_sniff_window_is_still_text():
    head = ("a" * 8191 + "é").encode()[:8192]
    assert content_type_for("x", None, head) == "text/plain; charset=utf-8"


def test_content_disposition_is_an_attachment_with_an_exact_utf8_name():
    header = content_disposition('naïve "quoted"; name.txt')
    assert header.startswith('attachment; filename="')
    fallback = header.split('filename="')[1].split('"')[0]
    assert fallback.isascii()
    assert ";" not in fallback
    exact = header.split("filename*=UTF-8''")[1]
    assert unquote(exact) == 'naïve "quoted"; name.txt'
    assert " " not in exact
    assert ";" not in exact
