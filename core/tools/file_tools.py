"""file_read, file_write, grep and find: the file tools an agent can be given.

Each tool is a plain function taking the run context first; `make_*` wrap one with the limits of
a parsed config into the typed function pydantic-ai exposes to the model. Every failure a model
can cause is raised as ModelRetry, so it reaches the model as a retry prompt, never as a crash.

Why one module of ~440 lines: the four tools share their argument types, path and root
selection, binary sniffing and the walk's bounds; apart they would import each other."""

import codecs
import fnmatch
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Literal, Protocol

import regex
from pydantic import Field
from pydantic_ai import ModelRetry, RunContext

from core.storage.local_workspace import Workspace
from core.storage.paths import MAX_PATH_BYTES, PathRefused, normalize_path
from core.tools.configs import (
    WRITE_MAX_BYTES,
    FileReadConfig,
    FileWriteConfig,
    FindConfig,
    GrepConfig,
)


class ToolDeps(Protocol):
    """What the file tools need from an agent run's dependencies."""

    @property
    def workspace(self) -> Workspace:
        """The session workspace (writable)."""
        ...

    @property
    def repo(self) -> Workspace | None:
        """The configured REPO_ROOT, read-only, or None."""
        ...


Root = Literal["workspace", "repo"]

GREP_MAX_PATTERN_CHARS = 1000
# counted repeats are unrolled at compile time: (?:a{1000}){1000} alone takes ~300 MB
GREP_MAX_REPEAT_PRODUCT = 100_000
GREP_LINE_CHARS = 300
FIND_MAX_PATTERN_CHARS = 500
# bounds the walk itself in very large trees, whatever the result limits
MAX_FILES_VISITED = 50_000
BINARY_SNIFF_BYTES = 8192

PathArg = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PATH_BYTES,
        description="File path relative to the root, e.g. 'notes/plan.md' (no '..', not absolute).",
    ),
]
PrefixArg = Annotated[
    str,
    Field(
        max_length=MAX_PATH_BYTES,
        description="Only look under this directory (or at this one file); '' for everything.",
    ),
]
RootArg = Annotated[
    Root,
    Field(
        description=(
            "'workspace': this session's files. 'repo': the project repository (read-only)."
        )
    ),
]
OffsetArg = Annotated[
    int,
    Field(ge=0, le=1 << 50, description="Byte offset to start at, from a truncation note."),
]
ContentArg = Annotated[
    str, Field(max_length=WRITE_MAX_BYTES, description="The complete file content (UTF-8 text).")
]
RegexArg = Annotated[
    str,
    Field(
        min_length=1,
        max_length=GREP_MAX_PATTERN_CHARS,
        description="Regular expression searched in each line, e.g. 'def \\w+_tool'.",
    ),
]
IgnoreCaseArg = Annotated[bool, Field(description="Match without regard to case.")]
GlobArg = Annotated[
    str,
    Field(
        min_length=1,
        max_length=FIND_MAX_PATTERN_CHARS,
        description="Glob such as '*.md' or 'docs/*/index.html' ('*' also matches '/').",
    ),
]

_READ_DEFAULTS = FileReadConfig()
_WRITE_DEFAULTS = FileWriteConfig()
_GREP_DEFAULTS = GrepConfig()
_FIND_DEFAULTS = FindConfig()
_COUNTED_REPEAT = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")


def file_read(
    ctx: RunContext[ToolDeps],
    path: str,
    offset: int = 0,
    root: Root = "workspace",
    *,
    config: FileReadConfig = _READ_DEFAULTS,
) -> str:
    """The text of a UTF-8 file, truncated at `config.max_bytes` with a note saying so."""
    tree = _select_root(ctx, root)
    if offset < 0:
        raise ModelRetry("offset must be 0 or more")
    with _model_errors(tree, path):
        data, size = tree.read(path, max_bytes=config.max_bytes, offset=offset)
    rel = normalize_path(path)
    if size == 0:
        return "[empty file]"
    if offset >= size:
        raise ModelRetry(f"offset {offset} is past the end of {rel} ({size} bytes)")
    decoded = _decode_chunk(data, mid_file=offset > 0, complete=offset + len(data) >= size)
    if decoded is None:
        raise ModelRetry(f"binary file {rel} not read: file_read returns UTF-8 text only")
    text, consumed = decoded
    end = offset + consumed
    if end < size:
        return (
            f"{text}\n\n[truncated: bytes {offset}-{end} of {size} shown; "
            f"call file_read with offset={end} to continue]"
        )
    if offset > 0:
        return f"{text}\n\n[bytes {offset}-{size} of {size} shown: end of file]"
    return text


def file_write(
    ctx: RunContext[ToolDeps],
    path: str,
    content: str,
    *,
    config: FileWriteConfig = _WRITE_DEFAULTS,
) -> str:
    """Create or replace a workspace file with `content` (UTF-8)."""
    tree = ctx.deps.workspace
    limit = config.max_bytes
    if len(content) > limit:  # every character is at least one byte: no need to encode first
        raise ModelRetry(f"content is over the {limit}-byte limit of file_write; write less")
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError:
        raise ModelRetry("content contains characters that are not valid Unicode text") from None
    if len(data) > limit:
        raise ModelRetry(
            f"content is {len(data)} bytes, over the {limit}-byte limit of file_write; write less"
        )
    with _model_errors(tree, path):
        info = tree.write(path, data)
    return f"wrote {info.size} bytes to {info.path}"


def grep(
    ctx: RunContext[ToolDeps],
    pattern: str,
    path_prefix: str = "",
    root: Root = "workspace",
    ignore_case: bool = False,
    *,
    config: GrepConfig = _GREP_DEFAULTS,
) -> str:
    """`path:line: text` for every line matching `pattern`, within the config's bounds."""
    tree = _select_root(ctx, root)
    compiled = _compile_regex(pattern, ignore_case)
    deadline = time.monotonic() + config.timeout_seconds
    hits: list[str] = []
    files_searched = files_matched = skipped_binary = skipped_large = bytes_scanned = 0
    stopped: str | None = None
    with _model_errors(tree, path_prefix):
        for visited, info in enumerate(tree.list_files(path_prefix)):
            if visited >= MAX_FILES_VISITED:
                stopped = f"stopped after visiting {MAX_FILES_VISITED} files"
                break
            if time.monotonic() >= deadline:
                stopped = f"stopped at the {config.timeout_seconds:g} s time limit"
                break
            if info.size > config.max_file_bytes:
                skipped_large += 1
                continue
            if bytes_scanned + info.size > config.max_total_bytes:
                stopped = f"stopped at the limit of {config.max_total_bytes} bytes scanned"
                break
            try:
                data, size = tree.read(info.path, max_bytes=config.max_file_bytes)
            except (PathRefused, OSError):
                continue  # replaced or removed since it was listed
            bytes_scanned += len(data)
            if size > config.max_file_bytes:  # grew since it was listed
                skipped_large += 1
                continue
            text = _decode_text(data)
            if text is None:
                skipped_binary += 1
                continue
            files_searched += 1
            hits_before = len(hits)
            try:
                for line in _matching_lines(compiled, text, info.path, deadline):
                    hits.append(line)
                    if len(hits) >= config.max_matches:
                        break
            except TimeoutError:
                stopped = f"stopped at the {config.timeout_seconds:g} s time limit"
            if len(hits) > hits_before:
                files_matched += 1
            if stopped:
                break
            if len(hits) >= config.max_matches:
                stopped = f"stopped at {config.max_matches} matches; there may be more"
                break

    notes = [f"{len(hits)} matching lines in {files_matched} of {files_searched} files searched"]
    if stopped:
        notes.append(f"{stopped}: results are partial, narrow the pattern or path_prefix")
    if skipped_binary:
        notes.append(f"{skipped_binary} binary files skipped")
    if skipped_large:
        notes.append(f"{skipped_large} files over {config.max_file_bytes} bytes skipped")
    summary = "[" + "; ".join(notes) + "]"
    if not hits:
        return f"no matches in the {tree.name} {summary}"
    return "\n".join([*hits, summary])


def find(
    ctx: RunContext[ToolDeps],
    pattern: str = "*",
    path_prefix: str = "",
    root: Root = "workspace",
    *,
    config: FindConfig = _FIND_DEFAULTS,
) -> str:
    """Paths of the files matching the glob `pattern`, one per line."""
    tree = _select_root(ctx, root)
    pattern = pattern or "*"
    if len(pattern) > FIND_MAX_PATTERN_CHARS:
        raise ModelRetry(f"pattern is longer than {FIND_MAX_PATTERN_CHARS} characters")
    matches = re.compile(fnmatch.translate(pattern), re.DOTALL).match
    match_names = "/" not in pattern
    found: list[str] = []
    stopped: str | None = None
    with _model_errors(tree, path_prefix):
        for visited, info in enumerate(tree.list_files(path_prefix)):
            if visited >= MAX_FILES_VISITED:
                stopped = f"stopped after visiting {MAX_FILES_VISITED} files"
                break
            if matches(info.path) or (match_names and matches(info.path.rpartition("/")[2])):
                if len(found) >= config.max_results:
                    stopped = f"truncated at {config.max_results} results"
                    break
                found.append(info.path)
    if not found:
        suffix = f" ({stopped})" if stopped else ""
        return f"no files match {pattern!r} in the {tree.name}{suffix}"
    if stopped:
        found.append(f"[{stopped}; narrow the pattern or path_prefix to see the rest]")
    return "\n".join(found)


def make_file_read(config: FileReadConfig) -> Callable[..., str]:
    def file_read_tool(
        ctx: RunContext[ToolDeps],
        path: PathArg,
        offset: OffsetArg = 0,
        root: RootArg = "workspace",
    ) -> str:
        return file_read(ctx, path, offset, root, config=config)

    return file_read_tool


def make_file_write(config: FileWriteConfig) -> Callable[..., str]:
    def file_write_tool(ctx: RunContext[ToolDeps], path: PathArg, content: ContentArg) -> str:
        return file_write(ctx, path, content, config=config)

    return file_write_tool


def make_grep(config: GrepConfig) -> Callable[..., str]:
    def grep_tool(
        ctx: RunContext[ToolDeps],
        pattern: RegexArg,
        path_prefix: PrefixArg = "",
        root: RootArg = "workspace",
        ignore_case: IgnoreCaseArg = False,
    ) -> str:
        return grep(ctx, pattern, path_prefix, root, ignore_case, config=config)

    return grep_tool


def make_find(config: FindConfig) -> Callable[..., str]:
    def find_tool(
        ctx: RunContext[ToolDeps],
        pattern: GlobArg = "*",
        path_prefix: PrefixArg = "",
        root: RootArg = "workspace",
    ) -> str:
        return find(ctx, pattern, path_prefix, root, config=config)

    return find_tool


def _select_root(ctx: RunContext[ToolDeps], root: str) -> Workspace:
    if root == "workspace":
        return ctx.deps.workspace
    if root == "repo":
        repo = ctx.deps.repo
        if repo is None:
            raise ModelRetry("no repository is configured for this agent; use root='workspace'")
        return repo
    raise ModelRetry(f"root must be 'workspace' or 'repo', not {root!r}")


@contextmanager
def _model_errors(tree: Workspace, path: str) -> Iterator[None]:
    """Turn what the workspace refuses or cannot do into a retry prompt for the model."""
    try:
        yield
    except PathRefused as exc:
        raise ModelRetry(str(exc)) from exc
    except FileNotFoundError as exc:
        reason = exc.args[0] if exc.errno is None else f"no such file in the {tree.name}"
        raise ModelRetry(f"{reason}; use find to see which files exist") from exc
    except OSError as exc:
        # only strerror: str(exc) may carry a host path
        reason = exc.strerror or "input/output error"
        shown = path if len(path) <= 120 else path[:120] + "..."
        raise ModelRetry(f"cannot access {shown!r} in the {tree.name}: {reason}") from exc


def _decode_chunk(data: bytes, *, mid_file: bool, complete: bool) -> tuple[str, int] | None:
    """(text, bytes consumed) of a chunk of a UTF-8 file, or None when it looks binary.

    A chunk may start or end inside a multi-byte character: those bytes are left out."""
    lead = 0
    if mid_file:
        while lead < min(3, len(data)) and 0x80 <= data[lead] <= 0xBF:
            lead += 1
    body = data[lead:]
    if b"\0" in body[:BINARY_SNIFF_BYTES]:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        text = decoder.decode(body, final=complete)
    except UnicodeDecodeError:
        return None
    pending = len(decoder.getstate()[0])
    return text, lead + len(body) - pending


def _decode_text(data: bytes) -> str | None:
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _compile_regex(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    if not pattern:
        raise ModelRetry("pattern must not be empty")
    if len(pattern) > GREP_MAX_PATTERN_CHARS:
        raise ModelRetry(f"pattern is longer than {GREP_MAX_PATTERN_CHARS} characters")
    repeat_product = 1
    for match in _COUNTED_REPEAT.finditer(pattern):
        for count in match.groups():
            if count:
                repeat_product *= max(1, int(count))
        if repeat_product > GREP_MAX_REPEAT_PRODUCT:
            raise ModelRetry(
                "pattern repeats too much: its {n} / {n,m} counts multiply to more than "
                f"{GREP_MAX_REPEAT_PRODUCT}; use + or * instead"
            )
    flags = regex.MULTILINE | (regex.IGNORECASE if ignore_case else 0)
    try:
        return regex.compile(pattern, flags)
    except RecursionError:
        raise ModelRetry("pattern nests groups too deeply") from None
    except (regex.error, OverflowError, ValueError) as exc:
        raise ModelRetry(f"invalid regular expression: {exc}") from None


def _matching_lines(
    compiled: regex.Pattern[str], text: str, path: str, deadline: float
) -> Iterator[str]:
    """One `path:line: text` per line holding a match; TimeoutError past the deadline."""
    position = 0
    line_number = 1
    counted_to = 0
    while position <= len(text):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        match = compiled.search(text, position, timeout=remaining)
        if match is None:
            return
        start = match.start()
        line_start = text.rfind("\n", 0, start) + 1
        if line_start == len(text):
            return  # an empty match after the final newline (or in an empty file) is not a line
        line_number += text.count("\n", counted_to, start)
        counted_to = start
        line_end = text.find("\n", start)
        if line_end == -1:
            line_end = len(text)
        yield f"{path}:{line_number}: {_excerpt(text, line_start, line_end, start)}"
        position = line_end + 1


def _excerpt(text: str, line_start: int, line_end: int, match_start: int) -> str:
    line = text[line_start:line_end].rstrip("\r")
    if len(line) <= GREP_LINE_CHARS:
        return line
    # a window that shows the match, for minified files and other very long lines
    begin = max(0, min(match_start - line_start - 100, len(line) - GREP_LINE_CHARS))
    window = line[begin : begin + GREP_LINE_CHARS]
    before = "..." if begin else ""
    after = "..." if begin + GREP_LINE_CHARS < len(line) else ""
    return before + window + after
