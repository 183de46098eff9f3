"""One agent's run inside an execution: build the agent of the version, give its tools the
workspace (and delegation), and run it on this thread's event loop, step by step."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.agents.usage import Usage
from core.definition import AgentDefinition, Limits
from core.models.sessions import EventType
from core.runs.backends import Backends
from core.runs.progress import DurableRecorder
from core.runs.tool_journal import ToolJournal

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, UserContent

    from core.agents.factory import RunDeps
    from core.agents.runner import RunOutcome
    from core.credentials import OpenedCredential
    from core.tools.delegate import Delegator

log = logging.getLogger(__name__)
# how often a streamed run extends its lease and looks for a cancel (a person is watching it)
STREAMED_HEARTBEAT_S = 1.0


def run_agent_step(
    definition: AgentDefinition,
    backends: Backends,
    *,
    agent_version: tuple[uuid.UUID, str],
    execution_id: uuid.UUID,
    session_id: uuid.UUID | None,
    prompt: str | Sequence[UserContent] | None,
    user_id: uuid.UUID,
    history: list[ModelMessage],
    resumed: list[ModelMessage],
    recorder: DurableRecorder,
    timeout_s: float,
    usage_so_far: Usage,
    limits: Limits | None = None,
    decisions: Any = None,
    approval_marks: Mapping[str, str] | None = None,
    on_event: Callable[[Any], None] | None = None,
    cost_limit: Decimal | None = None,
) -> RunOutcome:
    """`limits`: the definition's, unless the caller clamped them (core.runs.engine), as is
    `cost_limit` (USD; the day's budget left).
    `approval_marks`: the approved calls' decisions (decided_at), for the tool journal."""
    from core.agents.factory import RunDeps, agent_of_version
    from core.agents.loop import run_on_agent_loop
    from core.agents.providers import ProviderNotConfigured
    from core.agents.runner import RunAbandoned, RunOutcome, run_agent
    from core.credentials import CredentialMissing
    from core.storage.local_workspace import LocalWorkspace
    from core.storage.workspace import workspace_for

    settings = backends.settings
    try:
        built = agent_of_version(agent_version, definition, settings, model=backends.model)
        credentials = backends.store.open_credentials(user_id, definition.credential_names())
    except ProviderNotConfigured as exc:
        return RunOutcome("failed", error={"code": "provider_not_configured", "message": str(exc)})
    except CredentialMissing as exc:
        return RunOutcome("failed", error=credential_missing(exc))
    recorder.pending += skipped_server_events(definition, credentials)
    workspace = workspace_for(
        settings, backends.artifacts, session_id=session_id, execution_id=execution_id
    )
    deps = RunDeps(
        workspace=workspace,
        repo=(
            LocalWorkspace(settings.repo_root, name="repo", writable=False)
            if settings.repo_root
            else None
        ),
        credentials=credentials,
        credentials_sent=_sends_recorder(backends, agent_version[0], execution_id),
        journal=ToolJournal(backends.store, recorder.fence, backends.clock, approval_marks or {}),
        execution_id=execution_id,
    )
    deps.delegate = _delegator(user_id, deps, backends, execution_id)
    deps.knowledge = _knowledge(definition, agent_version[0], backends)
    if definition.memory.enabled:
        from core.knowledge.memories import RunMemory

        deps.memory = RunMemory(backends.unit_of_work, user_id, agent_version[0], execution_id)
        deps.recalled = deps.memory.recall(_text_of(prompt), definition.memory.recall_tokens)
    try:
        if definition.context is not None and session_id is not None:
            from core.runs.context_budget import fit_history, summarized_event

            earlier = history[: len(history) - len(resumed)]
            fitted = run_on_agent_loop(
                fit_history(definition.context, backends, session_id, earlier, built.model)
            )
            history = [*fitted.messages, *resumed]
            usage_so_far = usage_so_far + fitted.usage
            if fitted.event is not None:
                recorder.pending.append(summarized_event(fitted.event))
        outcome = run_on_agent_loop(
            run_agent(
                built,
                prompt,
                deps=deps,
                limits=limits or definition.limits,
                observer=recorder,
                message_history=history,
                timeout_s=timeout_s,
                usage_so_far=usage_so_far,
                # someone watching a streamed run hears a Stop within a second
                heartbeat_s=STREAMED_HEARTBEAT_S
                if on_event is not None
                else max(1.0, settings.execution_lease_s / 3),
                decisions=decisions,
                on_event=on_event,
                cost_limit=cost_limit,
            )
        )
    except RunAbandoned:
        raise
    except Exception as exc:
        from core.db.availability import database_unavailable

        if database_unavailable(exc):
            raise  # not the run's failure: it goes on once the database is back
        log.exception("execution %s crashed", execution_id)
        return RunOutcome(
            "failed", error={"code": "internal_error", "message": "the run failed unexpectedly"}
        )
    # what this run added comes after what an earlier attempt had already saved
    outcome.messages = [*resumed, *outcome.messages]
    return outcome


def _delegator(
    user_id: uuid.UUID,
    parent: RunDeps,
    backends: Backends,
    execution_id: uuid.UUID,
    *,
    granted: bool = False,
) -> Delegator:
    """What the `delegate` tool calls: run another agent the user may execute, inside this run
    (same workspace, one level deeper), counting its usage into the parent's (`usage`).
    `granted`: an approved delegation above already covers every approval below it."""

    async def delegate(
        agent_id: str, prompt: str, usage: Any, max_depth: int, approved: bool
    ) -> Any:
        from pydantic_ai import ApprovalRequired, ModelRetry

        from core.agents.factory import RunDeps, build_agent

        definition = await asyncio.to_thread(
            backends.store.definition_to_delegate, user_id, agent_id
        )
        if definition is None:
            raise ModelRetry(f"agent {agent_id} is missing or you may not execute it")
        if definition.workflow is not None:
            raise ModelRetry(f"agent {agent_id} is a workflow: delegate to single agents only")
        approved = approved or granted
        if definition.needs_approvals() and not approved:
            # its tools need a person's approval: the delegation as a whole is decided
            raise ApprovalRequired(metadata={"reason": "the delegated agent's tools need approval"})
        from core.credentials import CredentialMissing

        try:
            credentials = await asyncio.to_thread(
                backends.store.open_credentials, user_id, definition.credential_names()
            )
        except CredentialMissing as exc:
            message = credential_missing(exc)["message"]
            raise ModelRetry(f"agent {agent_id} cannot run: {message}") from None
        child = build_agent(
            definition, backends.settings, model=backends.model, approvals_granted=approved
        )
        deps = RunDeps(
            workspace=parent.workspace,
            repo=parent.repo,
            depth=parent.depth + 1,
            credentials=credentials,
            credentials_sent=_sends_recorder(backends, uuid.UUID(agent_id), execution_id),
            execution_id=execution_id,
        )
        deps.delegate = _delegator(user_id, deps, backends, execution_id, granted=approved)
        deps.knowledge = _knowledge(definition, uuid.UUID(agent_id), backends)
        result = await child.run(prompt, deps=deps, usage=usage)
        return result.output

    return delegate


def _text_of(prompt: str | Sequence[UserContent] | None) -> str:
    """The words of a run's input (its text parts), what memories are recalled for."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    return " ".join(part for part in prompt if isinstance(part, str))


def _knowledge(
    definition: AgentDefinition, agent_id: uuid.UUID, backends: Backends
) -> Callable[[str], list[dict[str, Any]]] | None:
    """The agent's knowledge search: the knowledge bases it names that its owner owns."""
    if not definition.knowledge:
        return None
    from core.knowledge.retrieval import agent_knowledge_search

    return agent_knowledge_search(
        backends.unit_of_work, backends.settings, agent_id, definition.knowledge
    )


def skipped_server_events(
    definition: AgentDefinition, credentials: Mapping[str, OpenedCredential]
) -> list[tuple[EventType, dict[str, Any]]]:
    """An event for each MCP server or A2A agent the run leaves out: its credentials may not go
    to its host (its toolset tells the model, and sends nothing)."""
    from core.mcp.servers import credential_refusals

    skipped = (credential_refusals(spec, credentials) for spec in definition.remotes())
    return [
        (
            EventType.a2a_agent_skipped if s.kind == "agent" else EventType.mcp_server_skipped,
            s.event(),
        )
        for s in skipped
        if s is not None
    ]


def _sends_recorder(
    backends: Backends, agent_id: uuid.UUID, execution_id: uuid.UUID
) -> Callable[[list[uuid.UUID], str], Awaitable[None]]:
    async def sent(credential_ids: list[uuid.UUID], host: str) -> None:
        await asyncio.to_thread(
            backends.store.record_credential_sends, credential_ids, agent_id, host, execution_id
        )

    return sent


def credential_missing(exc: Exception) -> dict[str, Any]:
    names = ", ".join(getattr(exc, "names", []))
    code = getattr(exc, "code", "credential_missing")
    if code == "credential_unreadable":
        message = (
            f"the agent's MCP servers need credentials of yours that can no longer be read "
            f"(sealed with a key the service no longer has): {names} (store their values "
            "again with PATCH /credentials/{id})"
        )
    else:
        message = (
            f"the agent's MCP servers need credentials you do not have: {names} (add them "
            "with POST /credentials)"
        )
    return {"code": code, "message": message}
