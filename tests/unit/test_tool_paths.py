"""normalize_path: clean relative paths pass; whatever could escape or be decoded is refused."""

from __future__ import annotations

import pytest

from core.storage.paths import MAX_COMPONENT_BYTES, MAX_PATH_BYTES, PathRefused, normalize_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.txt", "a.txt"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("./a//b/", "a/b"),
        ("a/./b", "a/b"),
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a..b/c", "a..b/c"),
        (".../x", ".../x"),
        (".hidden/.x", ".hidden/.x"),
        ("a/~b", "a/~b"),
        ("100%.txt", "100%.txt"),
        ("a%zz", "a%zz"),
        ("notes:v1.md", "notes:v1.md"),
        ("dé/straße.txt", "dé/straße.txt"),
        ("with space/x y.md", "with space/x y.md"),
        ("n" * MAX_COMPONENT_BYTES, "n" * MAX_COMPONENT_BYTES),
    ],
)
def test_clean_paths_are_normalised(raw, expected):
    assert normalize_path(raw) == expected


def test_path_of_exactly_the_byte_limit_is_accepted():
    path = "/".join(["p" * 255] * 3 + ["q" * 200, "r" * 55])
    assert len(path.encode()) == MAX_PATH_BYTES
    assert normalize_path(path) == path


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("..", "'..'"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a/..", "'..'"),
        ("a/b/../c", "'..'"),
        ("./../x", "'..'"),
        (".../..", "'..'"),
        ("/etc/passwd", "absolute"),
        ("//server/share", "absolute"),
        ("/", "absolute"),
        ("C:/Windows", "absolute"),
        ("c:x", "absolute"),
        ("C:\\x", "backslash"),
        ("\\\\server\\share", "backslash"),
        ("\\..\\x", "backslash"),
        ("a\\b", "backslash"),
        ("..%2fx", "percent"),
        ("%2e%2e/x", "percent"),
        ("%2E%2E%2Fx", "percent"),
        ("..%5cx", "percent"),
        ("a%00b", "percent"),
        ("%252e%252e/x", "percent"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\tb", "control"),
        ("a\x7fb", "control"),
        ("a\x85b", "control"),
        ("\x1b[31mred", "control"),
        ("~/x", "'~'"),
        ("~root/.ssh/id_rsa", "'~'"),
        ("~", "'~'"),
        ("x" * 5000, "too long"),
        ("a/" * 600, "too long"),
        ("y" * (MAX_COMPONENT_BYTES + 1), "component too long"),
        ("é" * 128, "component too long"),
        ("\ud800.txt", "Unicode"),
        # compatibility forms that NFKC folds into something refused
        ("\uff0e\uff0e/x", "'..'"),
        ("a\uff0f..\uff0fx", "'..'"),
        ("\u2024\u2024/x", "'..'"),
        ("\uff05\uff12\uff45/x", "percent"),
        ("\uff3cx", "backslash"),
    ],
)
def test_hostile_paths_are_refused_with_a_reason(raw, reason):
    with pytest.raises(PathRefused) as refused:
        normalize_path(raw)
    message = str(refused.value)
    assert reason in message
    assert len(message) < 400  # never echoes a huge input back


def test_non_string_is_refused():
    with pytest.raises(PathRefused):
        normalize_path(b"a.txt")  # type: ignore[arg-type]


def test_path_refused_is_a_value_error():
    assert issubclass(PathRefused, ValueError)
