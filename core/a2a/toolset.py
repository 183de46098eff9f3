"""How a run calls its agent's remote A2A agents: one tool per agent of the definition's
`a2a_agents`, named as the definition names it, taking `{message}`. A call sends the message
(A2A 1.0, JSON-RPC `SendMessage`) to the interface the agent's card names and answers with the
remote task's result; a task still working is read again (`GetTask`) until it ends or
A2A_CALL_TIMEOUT_S passes.

- The remote's outcome is the tool's result, in words: its answer, or that it needs input
  (`input-required`: what it asked, and the task to answer), failed, or was cancelled.
- Calls of one run to one agent continue one remote conversation (its `contextId`).
- A message's id is made of the run and the tool call, so a request sent again (a redelivered
  run resuming a call) is the same message to the remote: this service's A2A server answers it
  with the task it already made.
- Every connect and redirect goes through egress's pinned transport (public https, or a host in
  A2A_ALLOWED_HOSTS), and a credential header goes to no host its credential does not allow.
- Cards are cached per (card URL, headers) for A2A_CARD_TTL_S, process-wide; a card that could
  not be read leaves its tool out of the step, and the instructions say why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.credentials import OpenedCredential
from core.definition import A2aAgentSpec
from core.mcp.servers import (
    SkippedServer,
    a2a_policy,
    credential_refusals,
    guarded_headers,
    server_host,
)
from core.mcp.toolset import (
    ToolListCache,
    credential_guard,
    failure_reason,
    fingerprint,
    resolved_headers,
)

if TYPE_CHECKING:
    import httpx2
    from pydantic_ai import RunContext
    from pydantic_ai.toolsets import AbstractToolset, ToolsetTool

log = logging.getLogger(__name__)

CARDS: ToolListCache[dict[str, Any]] = ToolListCache()
MAX_CARD_BYTES = 256_000
MAX_DESCRIPTION = 1_000  # of a card's words the model reads as the tool's description
MAX_RESULT_CHARS = 100_000
PROTOCOL_VERSION = "1.0"
# a message's id is uuid5(MESSAGE_IDS, "<execution>:<tool call>")
MESSAGE_IDS = uuid.UUID("6f1c2a4e-3b8d-5e7f-9a01-a2a0a2a0a2a0")
POLL_S = (0.2, 0.5, 1.0, 2.0)  # the waits between GetTask reads of a task still working

ENDED = {
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_REJECTED",
}
ASKS = {"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"}
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "what to ask or tell the agent"},
    },
    "required": ["message"],
    "additionalProperties": False,
}


class A2aRefused(Exception):
    """The remote answered, but not with a task: a JSON-RPC error, or something unreadable."""


def http_client(
    settings: Settings, headers: dict[str, str], guard: Mapping[str, OpenedCredential]
) -> httpx2.AsyncClient:
    """A client whose every request, redirects included, passes the egress rules and carries a
    credential header only where it may go."""
    import httpx2

    from core.egress import async_pinned_transport

    return httpx2.AsyncClient(
        transport=async_pinned_transport()(
            a2a_policy(settings), credential_guard(guard) if guard else None
        ),
        headers={**headers, "A2A-Version": PROTOCOL_VERSION},
        timeout=httpx2.Timeout(settings.a2a_call_timeout_s, connect=settings.a2a_connect_timeout_s),
        follow_redirects=True,  # each hop passes the pinned transport's check
        trust_env=False,  # a proxy would connect on our behalf, unchecked
    )


async def read_card(client: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise A2aRefused(f"its card answered HTTP {response.status_code}")
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_CARD_BYTES:
                raise A2aRefused(f"its card is larger than {MAX_CARD_BYTES} bytes")
    try:
        card = json.loads(body)
    except ValueError:
        raise A2aRefused("its card is not JSON") from None
    if not isinstance(card, dict) or not isinstance(card.get("name"), str):
        raise A2aRefused("its card names no agent")
    rpc_url(card)
    return card


def rpc_url(card: dict[str, Any]) -> str:
    """The card's JSON-RPC interface (A2A 1.0 `supportedInterfaces`, or 0.3's `url`)."""
    for interface in card.get("supportedInterfaces") or []:
        if (
            isinstance(interface, dict)
            and interface.get("protocolBinding") == "JSONRPC"
            and isinstance(interface.get("url"), str)
        ):
            return str(interface["url"])
    if isinstance(card.get("url"), str) and card.get("preferredTransport", "JSONRPC") == "JSONRPC":
        return str(card["url"])
    raise A2aRefused("its card offers no JSON-RPC interface")


def describe(card: dict[str, Any]) -> str:
    """The tool's description, from the card's own words (cut short)."""
    said = f"Send a message to the remote agent {card['name']}"
    if isinstance(card.get("description"), str) and card["description"]:
        said += f": {card['description']}"
    skills = [
        f"{s.get('name') or s.get('id')}: {s.get('description', '')}".rstrip(": ")
        for s in card.get("skills") or []
        if isinstance(s, dict)
    ]
    if skills:
        said += "\nSkills: " + "; ".join(skills)
    said += "\nIt answers with the remote agent's reply. Calls continue one conversation."
    return said[:MAX_DESCRIPTION]


async def _rpc(
    client: httpx2.AsyncClient, url: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}
    response = await client.post(url, json=body)
    try:
        answer = response.json()
    except ValueError:
        raise A2aRefused(f"it answered HTTP {response.status_code}, not JSON-RPC") from None
    if not isinstance(answer, dict):
        raise A2aRefused("it answered something other than JSON-RPC")
    if isinstance(answer.get("error"), dict):
        error = answer["error"]
        raise A2aRefused(f"it refused the message ({error.get('code')}): {error.get('message')}")
    result = answer.get("result")
    if response.status_code != 200 or not isinstance(result, dict):
        raise A2aRefused(f"it answered HTTP {response.status_code} without a result")
    return result


async def send_message(
    client: httpx2.AsyncClient,
    url: str,
    text: str,
    *,
    message_id: str,
    context_id: str | None,
    deadline_s: float,
) -> dict[str, Any]:
    """The remote's answer to one message: its task once it ended or asks for something (read
    again while it works, until `deadline_s`), or the message it answered with."""
    message: dict[str, Any] = {
        "messageId": message_id,
        "role": "ROLE_USER",
        "parts": [{"text": text}],
    }
    if context_id:
        message["contextId"] = context_id
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline_s
    result = await _rpc(client, url, "SendMessage", {"message": message})
    task = result.get("task")
    waits = iter(POLL_S)
    while isinstance(task, dict) and _state(task) not in ENDED | ASKS:
        wait = next(waits, POLL_S[-1])
        if loop.time() + wait > until:
            break
        await asyncio.sleep(wait)
        task = await _rpc(client, url, "GetTask", {"id": task.get("id")})
    return result if not isinstance(task, dict) else {"task": task}


def _state(task: dict[str, Any]) -> str:
    status = task.get("status")
    return str(status.get("state", "")) if isinstance(status, dict) else ""


def _parts_text(parts: Any) -> str:
    said: list[str] = []
    for part in parts or []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            said.append(part["text"])
        elif "data" in part:
            said.append(json.dumps(part["data"], ensure_ascii=False))
        else:
            said.append("[non-text content omitted]")
    return "\n".join(said)


def answer_of(name: str, result: dict[str, Any], waited_s: float) -> str:
    """What the model is told of the remote's answer."""
    if isinstance(result.get("message"), dict):
        return _cut(_parts_text(result["message"].get("parts")))
    task = result.get("task") or {}
    state = _state(task)
    status_text = _parts_text(((task.get("status") or {}).get("message") or {}).get("parts"))
    if state == "TASK_STATE_COMPLETED":
        texts = [_parts_text(a.get("parts")) for a in task.get("artifacts") or []]
        return _cut("\n".join(t for t in texts if t) or status_text)
    task_id = task.get("id", "")
    if state in ASKS:
        return _cut(
            f"The agent {name} needs input before it can go on (task {task_id}): "
            f"{status_text or 'it did not say what'}"
        )
    if state == "TASK_STATE_CANCELED":
        return f"The agent {name} cancelled the task {task_id}."
    if state in ENDED:
        return _cut(f"The agent {name} could not do it: {status_text or state}")
    return (
        f"The agent {name} is still working on it (task {task_id}) after {waited_s:.0f} s; its "
        "answer is not available in this run."
    )


def _cut(text: str) -> str:
    if len(text) > MAX_RESULT_CHARS:
        return text[:MAX_RESULT_CHARS] + f"\n[truncated at {MAX_RESULT_CHARS} characters]"
    return text


def message_id(execution_id: uuid.UUID | None, tool_call_id: str) -> str:
    if execution_id is None:  # a run without an id (some tests): each call its own message
        return str(uuid.uuid4())
    return str(uuid.uuid5(MESSAGE_IDS, f"{execution_id}:{tool_call_id}"))


def a2a_toolset(
    specs: list[A2aAgentSpec], settings: Settings, retries: int, *, approvals: bool = True
) -> AbstractToolset[Any]:
    """The toolset of a definition's A2A agents; each run gets its own copy (`for_run`)
    holding the caller's headers, its HTTP clients and its remote conversations."""
    from pydantic_ai.toolsets import AbstractToolset

    class A2aAgentsToolset(AbstractToolset[Any]):
        def __init__(
            self,
            headers: dict[str, dict[str, str]] | None = None,
            guards: dict[str, dict[str, OpenedCredential]] | None = None,
            skipped: dict[str, SkippedServer] | None = None,
            deps: Any = None,
        ) -> None:
            self.headers = headers
            self.guards = guards or {}
            self.skipped = skipped or {}
            self.deps = deps
            self.clients: dict[str, httpx2.AsyncClient] = {}
            self.contexts: dict[str, str] = {}
            self.failures: dict[str, str] = {}
            self.recorded: set[str] = set()

        @property
        def id(self) -> str | None:
            return "a2a-agents"

        @property
        def label(self) -> str:
            return "remote A2A agents"

        async def for_run(self, ctx: RunContext[Any]) -> AbstractToolset[Any]:
            credentials: Mapping[str, OpenedCredential] = getattr(ctx.deps, "credentials", {})
            headers, guards, skipped = {}, {}, {}
            for spec in specs:
                refused = credential_refusals(spec, credentials)
                if refused is not None:  # nothing is sent: the run goes on without it
                    skipped[spec.name] = refused
                    continue
                headers[spec.name] = resolved_headers(spec.headers, credentials)
                guards[spec.name] = guarded_headers(spec.headers, credentials)
            return A2aAgentsToolset(headers, guards, skipped, ctx.deps)

        async def __aexit__(self, *args: Any) -> bool | None:
            clients, self.clients = self.clients, {}
            for client in clients.values():
                try:
                    await client.aclose()
                except Exception:  # pragma: no cover - a closed connection has nothing to close
                    log.debug("closing an A2A client failed")
            return None

        def _client(self, spec: A2aAgentSpec) -> httpx2.AsyncClient:
            assert self.headers is not None
            if spec.name not in self.clients:
                self.clients[spec.name] = http_client(
                    settings, self.headers[spec.name], self.guards[spec.name]
                )
            return self.clients[spec.name]

        async def _card(self, spec: A2aAgentSpec) -> dict[str, Any]:
            assert self.headers is not None
            headers = self.headers[spec.name]

            async def fetch() -> dict[str, Any]:
                async with asyncio.timeout(settings.a2a_connect_timeout_s * 2):
                    return await read_card(self._client(spec), spec.card_url)

            key = (spec.card_url, "a2a", fingerprint(headers))
            return await CARDS.get(key, settings.a2a_card_ttl_s, fetch)

        async def _cards(self) -> dict[str, dict[str, Any]]:
            if self.headers is None:
                return {}
            cards: dict[str, dict[str, Any]] = {}
            for spec in specs:
                if spec.name in self.skipped:
                    continue
                try:
                    cards[spec.name] = await self._card(spec)
                    self.failures.pop(spec.name, None)
                except Exception as exc:
                    self.failures[spec.name] = _reason(exc)
            return cards

        async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
            from pydantic_ai.mcp import TOOL_SCHEMA_VALIDATOR
            from pydantic_ai.tools import ToolDefinition
            from pydantic_ai.toolsets import ToolsetTool

            cards = await self._cards()
            by_name = {spec.name: spec for spec in specs}
            return {
                name: ToolsetTool(
                    toolset=self,
                    tool_def=ToolDefinition(
                        name=name,
                        description=describe(card),
                        parameters_json_schema=MESSAGE_SCHEMA,
                        metadata={
                            "a2a_agent": name,
                            "repeatable": False,
                            "requires_approval": approvals and by_name[name].requires_approval,
                        },
                    ),
                    max_retries=retries,
                    args_validator=TOOL_SCHEMA_VALIDATOR,
                )
                for name, card in cards.items()
            }

        async def get_instructions(self, ctx: RunContext[Any]) -> str | None:
            if self.headers is None:
                return None
            await self._cards()
            missing = [
                f"The remote agent {name} is not available in this run: {why}."
                for name, why in self.failures.items()
            ]
            missing += [
                f"The remote agent {name} is not available in this run: "
                f"{skipped.message.split(': ', 1)[-1]}."
                for name, skipped in self.skipped.items()
            ]
            return "\n".join(missing) or None

        async def call_tool(
            self,
            name: str,
            tool_args: dict[str, Any],
            ctx: RunContext[Any],
            tool: ToolsetTool[Any],
        ) -> Any:
            from pydantic_ai import ApprovalRequired, ModelRetry

            spec = next(spec for spec in specs if spec.name == name)
            if approvals and spec.requires_approval and not ctx.tool_call_approved:
                raise ApprovalRequired()
            text = str(tool_args.get("message", ""))
            started = asyncio.get_running_loop().time()
            try:
                card = await self._card(spec)
                url = rpc_url(card)
                client = self._client(spec)
                await self._record_sends(spec)
                result = await send_message(
                    client,
                    url,
                    text,
                    message_id=message_id(
                        getattr(ctx.deps, "execution_id", None), ctx.tool_call_id or ""
                    ),
                    context_id=self.contexts.get(name),
                    deadline_s=settings.a2a_call_timeout_s,
                )
            except A2aRefused as refused:
                return f"The agent {name} could not be asked: {refused}"
            except Exception as exc:
                if type(exc).__name__ in ("ReadTimeout", "TimeoutError"):  # it was sent
                    return (
                        f"The agent {name} did not answer within "
                        f"{settings.a2a_call_timeout_s:.0f} s; it may still be working on it."
                    )
                raise ModelRetry(f"The agent {name}: {_reason(exc)}; try again later") from None
            task = result.get("task") or result.get("message") or {}
            if isinstance(task.get("contextId"), str) and task["contextId"]:
                self.contexts[name] = task["contextId"]
            return answer_of(name, result, asyncio.get_running_loop().time() - started)

        async def _record_sends(self, spec: A2aAgentSpec) -> None:
            """Where the caller's credentials went: once per run and agent."""
            sent = getattr(self.deps, "credentials_sent", None)
            guard = self.guards.get(spec.name)
            if guard and sent is not None and spec.name not in self.recorded:
                self.recorded.add(spec.name)
                await sent(sorted({c.id for c in guard.values()}), server_host(spec.card_url))

    return A2aAgentsToolset()


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, A2aRefused) else failure_reason(exc)
