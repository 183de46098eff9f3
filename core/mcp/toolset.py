"""How a run reaches its agent's MCP servers: a pydantic-ai toolset per server, built with the
agent, that gives each run its own MCP session (opened at the run's first call, with the run
caller's credential headers, closed when the run ends).

- Tools are named `<server>_<tool>`, filtered by the server's allow-list.
- Tool lists are cached per (server, transport, headers) for MCP_TOOLS_TTL_S, process-wide: a run
  with a warm cache lists nothing and connects only when it calls a tool.
- Every connect and redirect goes through egress's pinned transport (public https, or a host in
  MCP_ALLOWED_HOSTS); connect and call are bounded by MCP_CONNECT_TIMEOUT_S / MCP_CALL_TIMEOUT_S.
- A server that is down, slow or refused fails the call as a retry the model sees (ModelRetry),
  never the run; a tool that needs approval raises ApprovalRequired until a person decided.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from core.config import Settings
from core.credentials import OpenedCredential
from core.definition import CredentialHeader, McpServerSpec
from core.errors import Invalid
from core.mcp.servers import (
    SkippedServer,
    credential_refusals,
    guarded_headers,
    mcp_policy,
    server_host,
)

if TYPE_CHECKING:
    from fastmcp import Client
    from pydantic_ai import RunContext
    from pydantic_ai.toolsets import AbstractToolset, ToolsetTool

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 100_000
REQUEST_TIMEOUT = -32001  # the JSON-RPC error code of an MCP request that timed out


@dataclass(frozen=True)
class McpTool:
    name: str
    description: str | None
    input_schema: dict[str, Any]
    # its annotations say it changes nothing (readOnlyHint) or may be repeated (idempotentHint)
    repeatable: bool = False


class McpUnavailable(Exception):
    """The server could not be reached, refused us, or did not answer in time."""


# tool listings

Listing = TypeVar("Listing")


@dataclass
class ToolListCache(Generic[Listing]):
    """Tool lists (or A2A agent cards) by (url, transport, headers fingerprint), each kept for
    `ttl_s`, at most `max_entries` of them (the least recently used go first); a listing that
    failed is kept as that failure for FAILED_LISTING_TTL_S. Shared by the process's threads
    (each runs its own event loop): a lock guards the dict, never an await. `listings` counts
    the lists fetched from servers (tests and benchmarks read it)."""

    max_entries: int = 256
    entries: OrderedDict[tuple[str, str, str], tuple[float, Listing | Exception]] = field(
        default_factory=OrderedDict
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    listings: int = 0

    async def get(
        self,
        key: tuple[str, str, str],
        ttl_s: float,
        fetch: Callable[[], Awaitable[Listing]],
    ) -> Listing:
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and hit[0] > now:
                self.entries.move_to_end(key)
                if isinstance(hit[1], Exception):
                    raise hit[1]
                return hit[1]
        try:
            tools = await fetch()
        except Exception as exc:
            self._keep(key, now + FAILED_LISTING_TTL_S, exc)
            raise
        with self.lock:
            self.listings += 1
        if ttl_s > 0:
            self._keep(key, now + ttl_s, tools)
        return tools

    def _keep(self, key: tuple[str, str, str], until: float, value: Listing | Exception) -> None:
        with self.lock:
            self.entries[key] = (until, value)
            self.entries.move_to_end(key)
            now = time.monotonic()
            for stale in [k for k, (expires, _) in self.entries.items() if expires <= now]:
                del self.entries[stale]
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.listings = 0


# how long a server whose listing failed (down, refused, too slow) is taken as unavailable
FAILED_LISTING_TTL_S = 30.0
MODEL_NAME_LIMIT = 128  # Claude and Gemini both cap a tool's name at 128 characters
_NOT_IN_A_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def model_tool_names(server: str, tools: list[str]) -> list[str]:
    """The names the model sees for a server's tools, in order: `<server>_<tool>` with every
    character Claude refuses (`^[a-zA-Z0-9_-]{1,128}$`, the strictest rule) made `_`, cut to
    128 characters, and made distinct by a short digest of the MCP name where two would meet.
    Calls map back through each tool's metadata (`mcp_tool`)."""
    names: list[str] = []
    for tool in tools:
        name = _NOT_IN_A_NAME.sub("_", f"{server}_{tool}")
        if len(name) > MODEL_NAME_LIMIT or name in names:
            digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
            name = f"{name[: MODEL_NAME_LIMIT - 9]}_{digest}"
        counter = 2
        while name in names:  # two digests alike: vanishingly rare, still never a clash
            name = f"{name[: MODEL_NAME_LIMIT - 4]}_{counter}"
            counter += 1
        names.append(name)
    return names


TOOL_LISTS: ToolListCache[list[McpTool]] = ToolListCache()


# connecting


def resolved_headers(
    spec_headers: Mapping[str, str | CredentialHeader],
    credentials: Mapping[str, OpenedCredential],
) -> dict[str, str]:
    """The headers to send: plain values, and credential values with their prefix."""
    return {
        name: value
        if isinstance(value, str)
        else value.prefix + credentials[value.credential].value
        for name, value in spec_headers.items()
    }


class CredentialHostRefused(Invalid):
    """A request would carry a credential to a host its owner does not allow (a redirect)."""


def credential_guard(guarded: Mapping[str, OpenedCredential]) -> Callable[[str, Any], None]:
    """What the pinned transport asks before each request (redirects included): a header
    whose value is a credential goes only to a host that credential allows."""

    def check(host: str, headers: Any) -> None:
        for header, credential in guarded.items():
            if header in headers and not credential.allows(host):
                raise CredentialHostRefused(
                    credential.refusal(host), code="credential_host_not_allowed"
                )

    return check


def fingerprint(headers: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(headers.items())).encode()).hexdigest()


def open_client(
    url: str,
    transport: str,
    headers: dict[str, str],
    settings: Settings,
    guard: Mapping[str, OpenedCredential] | None = None,
) -> Client[Any]:
    """A FastMCP client (not yet connected) whose every request passes the egress rules, and
    carries a credential header (`guard`: header → its credential) only where it may go."""
    import httpx2
    from fastmcp import Client
    from fastmcp.client.transports import SSETransport, StreamableHttpTransport

    from core.egress import async_pinned_transport

    policy = mcp_policy(settings)

    def http_client(**options: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            transport=async_pinned_transport()(policy, credential_guard(guard) if guard else None),
            headers=options.get("headers"),
            auth=options.get("auth"),
            # reads wait long: an SSE stream is quiet between calls, and each MCP request is
            # bounded by its own timeout (the client's, the call's)
            timeout=httpx2.Timeout(
                max(300.0, settings.mcp_call_timeout_s), connect=settings.mcp_connect_timeout_s
            ),
            follow_redirects=True,  # each hop passes the pinned transport's check
            trust_env=False,  # a proxy would connect on our behalf, unchecked
        )

    wire: Any
    factory: Any = http_client  # FastMCP's protocol names the keyword arguments it passes
    if transport == "sse":
        wire = SSETransport(url, headers=headers, httpx_client_factory=factory)
    else:
        wire = StreamableHttpTransport(url, headers=headers, httpx_client_factory=factory)
    return Client(
        wire,
        timeout=settings.mcp_call_timeout_s,
        init_timeout=settings.mcp_connect_timeout_s,
    )


async def list_server_tools(client: Client[Any]) -> list[McpTool]:
    tools = await client.list_tools()
    return [
        McpTool(
            tool.name,
            tool.description,
            dict(tool.input_schema or {"type": "object", "properties": {}}),
            repeatable=_repeatable(getattr(tool, "annotations", None)),
        )
        for tool in tools
    ]


def _repeatable(annotations: Any) -> bool:
    return bool(
        annotations is not None
        and (
            getattr(annotations, "read_only_hint", None) is True
            or getattr(annotations, "idempotent_hint", None) is True
        )
    )


def failure_reason(exc: BaseException) -> str:
    """What went wrong with a remote (refused by the egress rules, too slow, unreachable), in
    words that carry no header value."""
    if isinstance(exc, Invalid):
        return exc.message
    if (
        isinstance(exc, TimeoutError)
        or "Timeout" in type(exc).__name__
        or getattr(getattr(exc, "error", None), "code", None) == REQUEST_TIMEOUT
    ):
        return "it did not answer in time"
    return f"it could not be reached ({type(exc).__name__})"


def _unavailable(server: str, exc: BaseException) -> McpUnavailable:
    return McpUnavailable(f"MCP server {server}: {failure_reason(exc)}")


async def inspect_server(
    url: str,
    transport: str,
    headers: dict[str, str],
    settings: Settings,
    guard: Mapping[str, OpenedCredential] | None = None,
) -> list[McpTool]:
    """The server's tools, listed now (POST /agents/mcp/inspect); raises McpUnavailable."""
    try:
        async with asyncio.timeout(settings.mcp_connect_timeout_s + settings.mcp_call_timeout_s):
            async with open_client(url, transport, headers, settings, guard) as client:
                return await list_server_tools(client)
    except Exception as exc:
        raise _unavailable(url, exc) from None


# the toolset


def mcp_toolset(
    spec: McpServerSpec, settings: Settings, retries: int, *, approvals: bool = True
) -> AbstractToolset[Any]:
    """The toolset of one server for agents built from a definition; each run gets its own copy
    (`for_run`) holding the caller's headers and the run's MCP session."""
    from pydantic_ai.toolsets import AbstractToolset

    class McpServerToolset(AbstractToolset[Any]):
        def __init__(
            self,
            headers: dict[str, str] | None = None,
            guard: dict[str, OpenedCredential] | None = None,
            deps: Any = None,
        ) -> None:
            self.headers = headers
            self.guard = guard or {}
            self.deps = deps
            self._client: Client[Any] | None = None
            self._connecting = asyncio.Lock() if headers is not None else None

        @property
        def id(self) -> str | None:
            return f"mcp-{spec.name}"

        @property
        def label(self) -> str:
            return f"MCP server {spec.name}"

        async def for_run(self, ctx: RunContext[Any]) -> AbstractToolset[Any]:
            credentials: Mapping[str, OpenedCredential] = getattr(ctx.deps, "credentials", {})
            skipped = credential_refusals(spec, credentials)
            if skipped is not None:  # nothing is sent: the run goes on without this server
                return _skipped_toolset(skipped)
            return McpServerToolset(
                resolved_headers(spec.headers, credentials),
                guarded_headers(spec.headers, credentials),
                ctx.deps,
            )

        async def __aexit__(self, *args: Any) -> bool | None:
            client, self._client = self._client, None
            if client is not None:
                try:
                    await client.__aexit__(None, None, None)  # type: ignore[no-untyped-call]
                except Exception:  # a server gone meanwhile: nothing left to close
                    log.debug("closing the session of MCP server %s failed", spec.name)
            return None

        async def _session(self) -> Client[Any]:
            assert self._connecting is not None
            assert self.headers is not None
            async with self._connecting:
                if self._client is None:
                    client = open_client(
                        spec.url, spec.transport, self.headers, settings, self.guard
                    )
                    # bounded here too: FastMCP's own timeout leaves the SSE endpoint's wait out
                    async with asyncio.timeout(settings.mcp_connect_timeout_s):
                        await client.__aenter__()  # type: ignore[no-untyped-call]
                    self._client = client
                    sent = getattr(self.deps, "credentials_sent", None)
                    if self.guard and sent is not None:
                        ids = sorted({c.id for c in self.guard.values()})
                        await sent(ids, server_host(spec.url))
                return self._client

        async def _listing(self) -> list[McpTool]:
            """The server's tools (cached); a listing that failed is remembered for a little
            while, so a server that is down costs one connect timeout, not one per step."""

            async def fetch() -> list[McpTool]:
                try:
                    async with asyncio.timeout(settings.mcp_connect_timeout_s):
                        return await list_server_tools(await self._session())
                except Exception as exc:
                    await self.__aexit__()  # a half-open session is not kept
                    log.warning("%s", _unavailable(spec.name, exc))
                    raise

            assert self.headers is not None
            key = (spec.url, spec.transport, fingerprint(self.headers))
            return await TOOL_LISTS.get(key, settings.mcp_tools_ttl_s, fetch)

        async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
            from pydantic_ai.mcp import TOOL_SCHEMA_VALIDATOR
            from pydantic_ai.tools import ToolDefinition
            from pydantic_ai.toolsets import ToolsetTool

            try:
                listed = await self._listing()
            except Exception:
                return {}  # the run goes on without them; get_instructions tells the model
            allowed = None if spec.tools is None else set(spec.tools)
            kept = [tool for tool in listed if allowed is None or tool.name in allowed]
            named = model_tool_names(spec.name, [tool.name for tool in kept])
            return {
                name: ToolsetTool(
                    toolset=self,
                    tool_def=ToolDefinition(
                        name=name,
                        description=tool.description,
                        parameters_json_schema=tool.input_schema,
                        metadata={
                            "mcp_server": spec.name,
                            "mcp_tool": tool.name,
                            "repeatable": tool.repeatable,
                            "requires_approval": approvals and spec.needs_approval(tool.name),
                        },
                    ),
                    max_retries=retries,
                    args_validator=TOOL_SCHEMA_VALIDATOR,
                )
                for name, tool in zip(named, kept, strict=True)
            }

        async def get_instructions(self, ctx: RunContext[Any]) -> str | None:
            if self.headers is None:
                return None
            try:
                await self._listing()
            except Exception as exc:
                return (
                    f"The tools of MCP server {spec.name} are not available in this run: "
                    f"{str(_unavailable(spec.name, exc)).split(': ', 1)[-1]}."
                )
            return None

        async def call_tool(
            self,
            name: str,
            tool_args: dict[str, Any],
            ctx: RunContext[Any],
            tool: ToolsetTool[Any],
        ) -> Any:
            from pydantic_ai import ApprovalRequired, ModelRetry

            mcp_name = (tool.tool_def.metadata or {}).get("mcp_tool", name)
            if approvals and spec.needs_approval(mcp_name) and not ctx.tool_call_approved:
                raise ApprovalRequired()
            try:
                client = await self._session()
                result = await client.call_tool(
                    mcp_name,
                    tool_args,
                    timeout=settings.mcp_call_timeout_s,
                    raise_on_error=False,
                )
            except Exception as exc:
                await self.__aexit__()  # a broken session is opened anew by the next call
                raise ModelRetry(f"{_unavailable(spec.name, exc)}; try again later") from None
            text = _result_text(result)
            if result.is_error:
                raise ModelRetry(f"{name} failed: {text[:2000]}")
            return text

    return McpServerToolset()


def _skipped_toolset(skipped: SkippedServer) -> AbstractToolset[Any]:
    """A server left out of the run: no tools, and instructions that tell the model why."""
    from pydantic_ai.toolsets import AbstractToolset

    class SkippedServerToolset(AbstractToolset[Any]):
        @property
        def id(self) -> str | None:
            return f"mcp-{skipped.server}"

        @property
        def label(self) -> str:
            return f"MCP server {skipped.server} (left out)"

        async def get_instructions(self, ctx: RunContext[Any]) -> str:
            return (
                f"The tools of MCP server {skipped.server} are not available in this run: "
                f"{skipped.message.split(': ', 1)[-1]}."
            )

        async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
            return {}

        async def call_tool(
            self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: Any
        ) -> Any:
            raise AssertionError("a left-out server has no tools")  # pragma: no cover

    return SkippedServerToolset()


def _result_text(result: Any) -> str:
    """The call's content as text for the model (structured content as JSON when there is no
    text); other kinds of content are named, not sent."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        else:
            parts.append(f"[{kind or 'non-text'} content omitted]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"\n[truncated at {MAX_RESULT_CHARS} characters]"
    return text
