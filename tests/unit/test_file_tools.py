"""The file tools and the registry: confinement, limits, behaviour inside a pydantic-ai run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.storage.local_workspace import LocalWorkspace, Workspace
from core.tools import file_tools
from core.tools.configs import (
    FileReadConfig,
    FileWriteConfig,
    FindConfig,
    GrepConfig,
    WebSearchConfig,
)
from core.tools.registry import (
    OFFLINE_WEB_SEARCH_ANSWER,
    TOOL_SPECS,
    offline_web_search_tool,
    parse_tool_config,
    tool_catalog,
)

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20
SENTINEL = "SENTINEL-7f3a9c-outside-the-root"


@dataclass
class Deps:
    workspace: Workspace
    repo: Workspace | None = None


def _ctx(deps: Deps) -> Any:
    # the tools only use ctx.deps
    return SimpleNamespace(deps=deps)


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def deps(ws_root: Path) -> Deps:
    return Deps(LocalWorkspace(ws_root, name="workspace", writable=True))


@pytest.fixture
def ctx(deps: Deps) -> Any:
    return _ctx(deps)


def _finishes_within(seconds: float, call):
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return outcome


# --- confinement --------------------------------------------------------------------------------


@pytest.fixture
def hostile_tree(tmp_path: Path) -> SimpleNamespace:
    """A workspace and a repo full of links out of (and within) themselves, next to a secret."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text(SENTINEL)
    (outside / "dir" / "x.txt").write_text(SENTINEL)
    roots = {}
    for name in ["ws", "repo"]:
        root = tmp_path / name
        (root / "sub").mkdir(parents=True)
        (root / "notes.txt").write_text("ordinary notes\n")
        (root / "sub" / "a.py").write_text("print('hi')\n")
        (root / "link_out").symlink_to(outside / "secret.txt")
        (root / "link_rel").symlink_to("../outside/secret.txt")
        (root / "link_dir").symlink_to(outside, target_is_directory=True)
        (root / "link_in").symlink_to("notes.txt")
        (root / "link_dev").symlink_to("/dev/zero")
        (root / "sub" / "link_up").symlink_to("../..", target_is_directory=True)
        roots[name] = root
    deps = Deps(
        LocalWorkspace(roots["ws"], name="workspace", writable=True),
        LocalWorkspace(roots["repo"], name="repo", writable=False),
    )
    return SimpleNamespace(tmp=tmp_path, outside=outside, roots=roots, deps=deps)


def _snapshot_outside(tmp: Path, roots: dict[str, Path]) -> dict[str, bytes | str]:
    """Every entry under tmp except the roots' contents: files by content, links by target."""
    entries: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(tmp):
        current = Path(dirpath)
        if current in roots.values():
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = current / name
            if path.is_symlink():
                entries[str(path)] = os.readlink(path)
            elif path.is_file():
                entries[str(path)] = path.read_bytes()
    return entries


HOSTILE_PATHS = [
    "..",
    "../",
    "../outside/secret.txt",
    "a/../../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "./../outside/secret.txt",
    "sub/./../..",
    ".../..",
    "sub/a.py/../../../outside",
    "/etc/passwd",
    "//etc/passwd",
    "/",
    "\\..\\outside\\secret.txt",
    "..\\outside\\secret.txt",
    "sub\\..\\..\\outside",
    "C:\\Windows\\win.ini",
    "C:/outside/secret.txt",
    "\\\\server\\share\\x",
    "..%2foutside%2fsecret.txt",
    "%2e%2e/outside/secret.txt",
    "%2E%2E%2Foutside",
    "..%5coutside",
    "%252e%252e/outside",
    "secret.txt%00.md",
    "a\x00b",
    "notes.txt\x00",
    "sub/\n../../outside",
    "\x1b[2J",
    "~/x",
    "~root/.ssh/id_rsa",
    "~",
    "x" * 5000,
    "a/" * 600,
    "y" * 300,
    "\uff0e\uff0e/outside/secret.txt",
    "sub/\u2024\u2024/\u2024\u2024/outside",
    "link_out",
    "link_rel",
    "link_dir",
    "link_dir/secret.txt",
    "link_dir/dir/x.txt",
    "link_in",
    "link_dev",
    "sub/link_up/outside/secret.txt",
    "sub/link_up/notes.txt",
]


def _hostile_calls(path: str) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = [
        ("file_write", lambda c: file_tools.file_write(c, path, "overwritten " + path[:20])),
    ]
    for root in ["workspace", "repo"]:
        calls += [
            (f"file_read/{root}", lambda c, r=root: file_tools.file_read(c, path, root=r)),
            (
                f"grep/{root}",
                lambda c, r=root: file_tools.grep(c, "SENTINEL|notes|hi", path, root=r),
            ),
            (f"find/{root}", lambda c, r=root: file_tools.find(c, "*", path, root=r)),
        ]
    return calls


def test_hostile_corpus_is_large_enough():
    assert len(HOSTILE_PATHS) >= 40
    assert len(set(HOSTILE_PATHS)) == len(HOSTILE_PATHS)


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_no_tool_escapes_its_root(hostile_tree, path):
    before = _snapshot_outside(hostile_tree.tmp, hostile_tree.roots)
    ws_before = sorted(p.name for p in hostile_tree.roots["ws"].iterdir())
    ctx = _ctx(hostile_tree.deps)
    for label, call in _hostile_calls(path):
        with pytest.raises(ModelRetry) as refused:
            call(ctx)
        message = refused.value.message
        assert SENTINEL not in message, label
        for root in hostile_tree.roots.values():
            assert str(root) not in message, label
        assert len(message) < 500, label
    assert _snapshot_outside(hostile_tree.tmp, hostile_tree.roots) == before
    assert sorted(p.name for p in hostile_tree.roots["ws"].iterdir()) == ws_before
    assert (hostile_tree.roots["ws"] / "notes.txt").read_text() == "ordinary notes\n"


@pytest.mark.parametrize("root", ["workspace", "repo"])
def test_whole_tree_tools_never_reach_through_links(hostile_tree, root):
    ctx = _ctx(hostile_tree.deps)
    found = file_tools.find(ctx, "*", root=root)
    assert found.splitlines() == ["notes.txt", "sub/a.py"]
    matches = file_tools.grep(ctx, "SENTINEL|outside|.", root=root)
    assert SENTINEL not in matches
    assert [line.split(":")[0] for line in matches.splitlines()[:-1]] == ["notes.txt", "sub/a.py"]


# --- file_read ----------------------------------------------------------------------------------


def test_file_read_returns_text(ctx, ws_root):
    (ws_root / "d").mkdir()
    (ws_root / "d" / "f.md").write_text("# Title\nbody é\n")
    assert file_tools.file_read(ctx, "d/f.md") == "# Title\nbody é\n"
    assert file_tools.file_read(ctx, "./d//f.md") == "# Title\nbody é\n"


def test_file_read_truncates_at_one_mebibyte_with_a_note(ctx, ws_root):
    content = ("0123456789abcde\n" * (MiB // 16)) + "tail line\n" * 1000
    (ws_root / "big.txt").write_text(content)
    total = len(content)
    first = file_tools.file_read(ctx, "big.txt")
    body, note = first.rsplit("\n\n", 1)
    assert body == content[:MiB]
    assert f"bytes 0-{MiB} of {total}" in note
    assert f"offset={MiB}" in note
    rest = file_tools.file_read(ctx, "big.txt", offset=MiB)
    assert rest.startswith("tail line\n")
    assert rest.endswith(f"[bytes {MiB}-{total} of {total} shown: end of file]")


def test_file_read_continuation_never_splits_a_character(ctx, ws_root):
    content = "aé€😀" * 200
    (ws_root / "u.txt").write_text(content)
    config = FileReadConfig(max_bytes=64)
    pieces, offset, calls = [], 0, 0
    while True:
        calls += 1
        out = file_tools.file_read(ctx, "u.txt", offset, config=config)
        text, _, note = out.rpartition("\n\n[")
        pieces.append(text)
        if "end of file" in note:
            break
        offset = int(note.split("offset=")[1].split(" ")[0])
    assert "".join(pieces) == content
    assert calls > 10


def test_file_read_from_inside_a_character_skips_its_tail(ctx, ws_root):
    (ws_root / "u.txt").write_text("😀ok")
    assert file_tools.file_read(ctx, "u.txt", 1).startswith("ok\n\n[bytes 1-6 of 6")


def test_file_read_refuses_binary_files(ctx, ws_root):
    (ws_root / "nul.bin").write_bytes(b"text\x00more")
    (ws_root / "latin1.txt").write_bytes("café".encode("latin-1"))
    (ws_root / "late.bin").write_bytes(b"a" * 9000 + b"\xff")
    for name in ["nul.bin", "latin1.txt", "late.bin"]:
        with pytest.raises(ModelRetry, match=f"binary file {name} not read"):
            file_tools.file_read(ctx, name)


def test_file_read_edge_cases(ctx, ws_root):
    (ws_root / "empty.txt").write_bytes(b"")
    (ws_root / "small.txt").write_text("abc")
    assert file_tools.file_read(ctx, "empty.txt") == "[empty file]"
    with pytest.raises(ModelRetry, match=r"past the end of small\.txt"):
        file_tools.file_read(ctx, "small.txt", offset=3)
    with pytest.raises(ModelRetry, match="offset must be 0 or more"):
        file_tools.file_read(ctx, "small.txt", offset=-1)
    with pytest.raises(ModelRetry, match=r"no such file in the workspace: nope\.txt") as missing:
        file_tools.file_read(ctx, "nope.txt")
    assert "use find" in missing.value.message
    assert str(ws_root) not in missing.value.message


def test_repo_root_is_read_only_and_optional(ws_root, tmp_path):
    repo_root = tmp_path / "repo"
    repo_root.mkdir()
    (repo_root / "README.md").write_text("repo readme\n")
    ctx = _ctx(
        Deps(
            LocalWorkspace(ws_root, name="workspace", writable=True),
            LocalWorkspace(repo_root, name="repo", writable=False),
        )
    )
    assert file_tools.file_read(ctx, "README.md", root="repo") == "repo readme\n"
    with pytest.raises(ModelRetry, match="no such file in the workspace"):
        file_tools.file_read(ctx, "README.md")
    assert file_tools.find(ctx, "*.md", root="repo") == "README.md"

    no_repo = _ctx(Deps(LocalWorkspace(ws_root, name="workspace", writable=True)))
    for call in [
        lambda: file_tools.file_read(no_repo, "README.md", root="repo"),
        lambda: file_tools.grep(no_repo, "x", root="repo"),
        lambda: file_tools.find(no_repo, root="repo"),
    ]:
        with pytest.raises(ModelRetry, match="no repository is configured"):
            call()
    with pytest.raises(ModelRetry, match="root must be"):
        file_tools.file_read(ctx, "README.md", root="elsewhere")  # type: ignore[arg-type]


def test_fifo_is_refused_by_file_read_and_skipped_by_grep_and_find(ctx, ws_root):
    os.mkfifo(ws_root / "pipe")
    (ws_root / "real.txt").write_text("pipe dream\n")
    started = time.monotonic()
    outcome = _finishes_within(2.0, lambda: file_tools.file_read(ctx, "pipe"))
    assert isinstance(outcome.get("error"), ModelRetry)
    assert "named pipe" in outcome["error"].message
    outcome = _finishes_within(2.0, lambda: file_tools.grep(ctx, "pipe"))
    assert outcome["value"].splitlines()[0] == "real.txt:1: pipe dream"
    outcome = _finishes_within(2.0, lambda: file_tools.find(ctx, "*"))
    assert outcome["value"] == "real.txt"
    outcome = _finishes_within(2.0, lambda: file_tools.file_write(ctx, "pipe", "x"))
    assert isinstance(outcome.get("error"), ModelRetry)
    assert time.monotonic() - started < 2.0


# --- file_write ---------------------------------------------------------------------------------


def test_file_write_creates_parents_and_confirms(ctx, ws_root):
    assert file_tools.file_write(ctx, "out/report.md", "héllo") == "wrote 6 bytes to out/report.md"
    assert (ws_root / "out" / "report.md").read_text() == "héllo"


def test_file_write_limit_is_ten_mebibytes(ctx, ws_root):
    assert file_tools.file_write(ctx, "max.txt", "x" * (10 * MiB)).startswith("wrote 10485760")
    assert (ws_root / "max.txt").stat().st_size == 10 * MiB
    with pytest.raises(ModelRetry, match="over the 10485760-byte limit"):
        file_tools.file_write(ctx, "over.txt", "x" * (10 * MiB + 1))
    with pytest.raises(ModelRetry, match="content is 10485762 bytes"):
        file_tools.file_write(ctx, "over.txt", "é" * (5 * MiB + 1))
    assert not (ws_root / "over.txt").exists()


def test_file_write_limit_can_be_lowered(ctx):
    config = FileWriteConfig(max_bytes=5)
    assert file_tools.file_write(ctx, "a.txt", "12345", config=config) == "wrote 5 bytes to a.txt"
    with pytest.raises(ModelRetry, match="6 bytes, over the 5-byte limit"):
        file_tools.file_write(ctx, "a.txt", "1234é", config=config)


def test_file_write_refuses_invalid_text_and_read_only_workspaces(ctx, tmp_path):
    with pytest.raises(ModelRetry, match="not valid Unicode"):
        file_tools.file_write(ctx, "a.txt", "lone \ud800 surrogate")
    read_only = _ctx(Deps(LocalWorkspace(tmp_path / "ro", name="workspace", writable=False)))
    with pytest.raises(ModelRetry, match="read-only"):
        file_tools.file_write(read_only, "a.txt", "x")


# --- grep ---------------------------------------------------------------------------------------


@pytest.fixture
def source_tree(ws_root: Path) -> Path:
    (ws_root / "pkg").mkdir()
    (ws_root / "pkg" / "a.py").write_text("import os\ndef Alpha():\n    return 1\n")
    (ws_root / "pkg" / "b.py").write_text("def beta():\r\n    return 2\r\n")
    (ws_root / "README.md").write_text("Alpha and beta\n")
    return ws_root


def test_grep_reports_path_line_and_text(ctx, source_tree):
    out = file_tools.grep(ctx, r"^def \w+")
    assert out.splitlines() == [
        "pkg/a.py:2: def Alpha():",
        "pkg/b.py:1: def beta():",
        "[2 matching lines in 2 of 3 files searched]",
    ]


def test_grep_options(ctx, source_tree):
    assert file_tools.grep(ctx, "alpha", ignore_case=True).splitlines()[:2] == [
        "README.md:1: Alpha and beta",
        "pkg/a.py:2: def Alpha():",
    ]
    assert file_tools.grep(ctx, "return", "pkg/b.py").splitlines()[0] == "pkg/b.py:2:     return 2"
    assert file_tools.grep(ctx, "1$").splitlines()[0] == "pkg/a.py:3:     return 1"
    assert file_tools.grep(ctx, "nothing-like-this").startswith("no matches in the workspace [")
    # an empty match after the last newline is not an extra line
    assert len(file_tools.grep(ctx, "^", "pkg/a.py").splitlines()) == 4
    (source_tree / "empty.txt").write_bytes(b"")
    assert file_tools.grep(ctx, "^$", "empty.txt").startswith("no matches")


def test_grep_cuts_long_lines_around_the_match(ctx, ws_root):
    (ws_root / "min.js").write_text("x" * 5000 + "NEEDLE" + "y" * 5000 + "\n")
    line = file_tools.grep(ctx, "NEEDLE").splitlines()[0]
    assert line.startswith("min.js:1: ...")
    assert line.endswith("...")
    assert "NEEDLE" in line
    assert len(line) < 330


def test_grep_stops_at_max_matches(ctx, ws_root):
    (ws_root / "many.txt").write_text("hit\n" * 500)
    lines = file_tools.grep(ctx, "hit").splitlines()
    assert len(lines) == 201
    assert "stopped at 200 matches" in lines[-1]
    lines = file_tools.grep(ctx, "hit", config=GrepConfig(max_matches=3)).splitlines()
    assert lines[:3] == ["many.txt:1: hit", "many.txt:2: hit", "many.txt:3: hit"]
    assert "stopped at 3 matches" in lines[3]


def test_grep_skips_binary_and_large_files_and_bounds_bytes_scanned(ctx, ws_root):
    (ws_root / "a.bin").write_bytes(b"needle\x00")
    (ws_root / "b.txt").write_text("needle\n" + "z" * 100)
    (ws_root / "c.txt").write_text("needle\n")
    (ws_root / "d.txt").write_text("needle\n")
    out = file_tools.grep(ctx, "needle")
    assert "1 binary files skipped" in out
    assert out.splitlines()[:3] == ["b.txt:1: needle", "c.txt:1: needle", "d.txt:1: needle"]
    out = file_tools.grep(ctx, "needle", config=GrepConfig(max_file_bytes=50))
    assert "1 files over 50 bytes skipped" in out
    assert "b.txt" not in out
    out = file_tools.grep(ctx, "needle", config=GrepConfig(max_total_bytes=120))
    assert "c.txt" not in out
    assert "stopped at the limit of 120 bytes scanned" in out


def test_grep_refuses_bad_patterns(ctx, source_tree):
    with pytest.raises(ModelRetry, match="invalid regular expression"):
        file_tools.grep(ctx, "(unclosed")
    with pytest.raises(ModelRetry, match="longer than 1000"):
        file_tools.grep(ctx, "a" * 1001)
    with pytest.raises(ModelRetry, match="must not be empty"):
        file_tools.grep(ctx, "")
    started = time.monotonic()
    for bomb in ["(?:a{1000}){1000}", "((((a{50}){50}){50}){50})", "a{100001}"]:
        with pytest.raises(ModelRetry, match="repeats too much"):
            file_tools.grep(ctx, bomb)
    assert time.monotonic() - started < 1.0
    with pytest.raises(ModelRetry, match="nests groups too deeply"):
        file_tools.grep(ctx, "(" * 400 + "a" + ")" * 400)


def test_catastrophic_regex_returns_within_the_time_budget(ctx, ws_root):
    (ws_root / "evil.txt").write_text("a" * 5000 + "b\n")
    (ws_root / "later.txt").write_text("aaa\n")
    started = time.monotonic()
    out = file_tools.grep(ctx, "(a+)+$")
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert "stopped at the 1 s time limit" in out
    assert "results are partial" in out
    out = file_tools.grep(ctx, "(a|aa)+$", config=GrepConfig(timeout_seconds=0.2))
    assert "0.2 s time limit" in out


def test_grep_with_missing_prefix_or_refused_prefix(ctx, source_tree):
    assert file_tools.grep(ctx, "x", "no/such/dir").startswith("no matches")
    with pytest.raises(ModelRetry, match="not a directory"):
        file_tools.grep(ctx, "x", "README.md/deeper")


# --- find ---------------------------------------------------------------------------------------


def test_find_matches_names_and_paths(ctx, source_tree):
    assert file_tools.find(ctx, "*.py").splitlines() == ["pkg/a.py", "pkg/b.py"]
    assert file_tools.find(ctx).splitlines() == ["README.md", "pkg/a.py", "pkg/b.py"]
    assert file_tools.find(ctx, "pkg/a*").splitlines() == ["pkg/a.py"]
    assert file_tools.find(ctx, "a.py").splitlines() == ["pkg/a.py"]
    assert file_tools.find(ctx, "*", "pkg").splitlines() == ["pkg/a.py", "pkg/b.py"]
    assert file_tools.find(ctx, "*.rs") == "no files match '*.rs' in the workspace"
    with pytest.raises(ModelRetry, match="longer than 500"):
        file_tools.find(ctx, "*" * 501)


def test_find_truncates_at_the_configured_limit(ctx, ws_root):
    for index in range(12):
        (ws_root / f"f{index:02}.txt").write_text("x")
    lines = file_tools.find(ctx, "*.txt", config=FindConfig(max_results=5)).splitlines()
    assert lines[:5] == ["f00.txt", "f01.txt", "f02.txt", "f03.txt", "f04.txt"]
    assert lines[5].startswith("[truncated at 5 results")
    assert len(file_tools.find(ctx, "*.txt").splitlines()) == 12


def test_find_default_limit_is_one_thousand(ctx, ws_root):
    for index in range(1001):
        (ws_root / f"{index:04}").write_bytes(b"")
    lines = file_tools.find(ctx).splitlines()
    assert len(lines) == 1001
    assert lines[-1].startswith("[truncated at 1000 results")


# --- registry -----------------------------------------------------------------------------------


def test_registry_import_does_not_load_pydantic_ai():
    code = "import core.tools.registry, sys; print('pydantic_ai' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_tool_catalog_lists_every_tool_with_a_json_schema():
    catalog = tool_catalog()
    assert [entry["name"] for entry in catalog] == [
        "delegate",
        "file_read",
        "file_write",
        "find",
        "grep",
        "web_search",
    ]
    json.dumps(catalog)
    for entry in catalog:
        assert set(entry) == {"name", "description", "config_schema"}
        assert entry["description"]
        schema = entry["config_schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        # every tool works unconfigured except delegate, which must name the agents it may call
        minimal = {"agents": [str(uuid.uuid4())]} if entry["name"] == "delegate" else {}
        jsonschema.validate(minimal, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"unknown": 1}, schema)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("file_read", {"max_bytes": 63}),
        ("file_read", {"max_bytes": MiB + 1}),
        ("file_read", {"max_bytes": 10, "extra": True}),
        ("file_write", {"max_bytes": 10 * MiB + 1}),
        ("file_write", {"max_bytes": "big"}),
        ("grep", {"max_matches": 0}),
        ("grep", {"max_matches": 1001}),
        ("grep", {"timeout_seconds": 0}),
        ("grep", {"timeout_seconds": 60}),
        ("grep", {"max_file_bytes": 2 * MiB + 1}),
        ("grep", {"max_total_bytes": 20 * MiB + 1}),
        ("grep", {"flags": "i"}),
        ("find", {"max_results": 1001}),
        ("find", {"max_results": -1}),
        ("web_search", {"max_uses": 0}),
        ("web_search", {"max_uses": 21}),
        ("web_search", {"allowed_domains": []}),
        ("web_search", {"allowed_domains": ["x.com"] * 51}),
        ("web_search", {"allowed_domains": ["a" * 254]}),
        ("web_search", {"blocked_domains": ["not a domain"]}),
        ("web_search", {"blocked_domains": ["https://x.com/"]}),
        ("web_search", {"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}),
        ("web_search", {"engine": "bing"}),
    ],
)
def test_bad_tool_configs_are_rejected(name, config):
    with pytest.raises(ValidationError):
        parse_tool_config(name, config)
    schema = TOOL_SPECS[name].config_model.model_json_schema()
    if "allowed_domains" not in config or "blocked_domains" not in config:
        # the JSON schema says the same (the one cross-field rule is checked by pydantic only)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(config, schema)


def test_good_tool_configs_parse():
    assert parse_tool_config("grep", {}) == GrepConfig()
    assert parse_tool_config("grep", {"max_matches": 5}).max_matches == 5  # type: ignore[attr-defined]
    assert parse_tool_config("web_search", {"max_uses": 3, "allowed_domains": ["docs.python.org"]})
    assert parse_tool_config("web_search", {}) == WebSearchConfig()
    with pytest.raises(KeyError):
        parse_tool_config("shell", {})


def test_build_returns_named_tools_and_refuses_native_or_mismatched(tmp_path):
    for name in ["file_read", "file_write", "grep", "find"]:
        tool = TOOL_SPECS[name].build(parse_tool_config(name, {}))
        assert tool.name == name
        assert tool.takes_ctx
        assert tool.description
    with pytest.raises(NotImplementedError, match="native"):
        TOOL_SPECS["web_search"].build(WebSearchConfig())
    with pytest.raises(TypeError, match="expects a GrepConfig"):
        TOOL_SPECS["grep"].build(FindConfig())


# --- through pydantic-ai ------------------------------------------------------------------------


def _scripted_model(calls: list[ToolCallPart]) -> FunctionModel:
    """A model that makes one scripted tool call per turn, then answers 'done'."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = sum(isinstance(message, ModelResponse) for message in messages)
        if turn < len(calls):
            return ModelResponse(parts=[calls[turn]])
        return ModelResponse(parts=[TextPart("done")])

    return FunctionModel(respond)


def _tool_returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [
        part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]


def _run(agent: Any, deps: Any) -> Any:
    """The agent's run on a loop of its own, closed after: run_sync leaves its loop set on the
    thread, unclosed, for whatever replaces it later to drop (a ResourceWarning at some gc)."""
    return asyncio.run(agent.run("go", deps=deps))


def _agent(calls: list[ToolCallPart], tools: list[Any]) -> Agent[Deps, str]:
    return Agent(_scripted_model(calls), tools=tools, deps_type=Deps, retries=5)


def test_built_tools_run_inside_an_agent(deps, ws_root):
    tools = [TOOL_SPECS[n].build(parse_tool_config(n, {})) for n in ["file_read", "file_write"]]
    tools += [TOOL_SPECS[n].build(parse_tool_config(n, {})) for n in ["grep", "find"]]
    calls = [
        ToolCallPart("file_write", {"path": "notes/todo.md", "content": "- write tests\n"}),
        ToolCallPart("file_read", {"path": "notes/todo.md"}),
        ToolCallPart("grep", {"pattern": "tests", "path_prefix": "notes"}),
        ToolCallPart("find", {"pattern": "*.md"}),
    ]
    result = _run(_agent(calls, tools), deps)
    assert result.output == "done"
    returns = _tool_returns(result.all_messages())
    assert [part.content for part in returns] == [
        "wrote 14 bytes to notes/todo.md",
        "- write tests\n",
        "notes/todo.md:1: - write tests\n[1 matching lines in 1 of 1 files searched]",
        "notes/todo.md",
    ]
    assert all(part.outcome != "retried" for part in returns)


def test_invalid_arguments_and_model_retry_become_retry_prompts(deps):
    tools = [TOOL_SPECS[n].build(parse_tool_config(n, {})) for n in ["file_read", "grep"]]
    calls = [
        ToolCallPart("file_read", {"path": 5, "unexpected": True}),
        ToolCallPart("file_read", {"path": "x" * 2000}),
        ToolCallPart("file_read", {"path": "a.txt", "root": "elsewhere"}),
        ToolCallPart("grep", {"pattern": "a" * 1001}),
        ToolCallPart("file_read", {"path": "../../etc/passwd"}),
        ToolCallPart("grep", {"pattern": "(unclosed"}),
        ToolCallPart("file_read", {"path": "missing.txt"}),
    ]
    result = _run(_agent(calls, tools), deps)
    assert result.output == "done"
    returns = _tool_returns(result.all_messages())
    assert [part.outcome for part in returns] == ["retried"] * len(calls)
    validation_errors = [part.content for part in returns[:4]]
    assert all(isinstance(content, list) for content in validation_errors)
    assert {error["type"] for error in validation_errors[0]} == {"string_type", "extra_forbidden"}
    assert validation_errors[1][0]["type"] == "string_too_long"
    assert validation_errors[2][0]["type"] == "literal_error"
    assert validation_errors[3][0]["type"] == "string_too_long"
    assert "'..' is not allowed" in returns[4].content
    assert "invalid regular expression" in returns[5].content
    assert "no such file in the workspace: missing.txt" in returns[6].content


def test_built_tools_apply_their_config_limits(deps, ws_root):
    (ws_root / "long.txt").write_text("0123456789" * 10)
    tools = [
        TOOL_SPECS["file_read"].build(FileReadConfig(max_bytes=64)),
        TOOL_SPECS["file_write"].build(FileWriteConfig(max_bytes=3)),
    ]
    calls = [
        ToolCallPart("file_read", {"path": "long.txt"}),
        ToolCallPart("file_write", {"path": "w.txt", "content": "four"}),
    ]
    result = _run(_agent(calls, tools), deps)
    read_part, write_part = _tool_returns(result.all_messages())
    assert read_part.content.startswith(
        "0123456789" * 6 + "0123\n\n[truncated: bytes 0-64 of 100 shown"
    )
    assert write_part.outcome == "retried"
    assert "over the 3-byte limit" in write_part.content
    assert "64 bytes" in tools[0].description


def test_built_tool_schemas_bound_every_argument():
    def definition(name: str) -> dict[str, Any]:
        tool = TOOL_SPECS[name].build(parse_tool_config(name, {}))
        return tool.tool_def.parameters_json_schema

    read = definition("file_read")
    assert read["required"] == ["path"]
    assert read["properties"]["path"]["maxLength"] == 1024
    assert read["properties"]["root"]["enum"] == ["workspace", "repo"]
    assert definition("file_write")["properties"]["content"]["maxLength"] == 10 * MiB
    assert definition("grep")["properties"]["pattern"]["maxLength"] == 1000
    assert definition("find")["properties"]["pattern"]["maxLength"] == 500
    for name in ["file_read", "file_write", "grep", "find"]:
        assert "ctx" not in definition(name)["properties"]


def test_offline_web_search_stand_in(deps):
    tool = offline_web_search_tool(WebSearchConfig(max_uses=2))
    assert tool.name == "web_search"
    calls = [ToolCallPart("web_search", {"query": "pydantic-ai release notes"})]
    result = _run(_agent(calls, [tool]), deps)
    (returned,) = _tool_returns(result.all_messages())
    assert returned.content == OFFLINE_WEB_SEARCH_ANSWER
    assert "offline" in returned.content
    assert "no web access" in returned.content
    assert "no results" in returned.content
