"""Build a pydantic-ai Agent from a stored definition: model (with fallbacks), instructions,
the enabled tools only, structured output, and native web search where the provider has it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.agents.providers import build_run_model
from core.config import Settings
from core.definition import AgentDefinition, check_definition

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable

    from pydantic_ai import Agent
    from pydantic_ai.models import Model

    from core.agents.tool_calls import Journal
    from core.credentials import OpenedCredential
    from core.storage.local_workspace import Workspace
    from core.tools.delegate import Delegator

# at most this many model retries for one tool call or output before the run fails
TOOL_RETRIES = 3


@dataclass
class RunDeps:
    """What tools see of a run (`ctx.deps`)."""

    workspace: Workspace
    repo: Workspace | None
    # the `delegate` tool's way to run another agent, and how deep this run already is
    delegate: Delegator | None = None
    depth: int = 0
    # the run caller's credentials its MCP servers' headers name (each with its hosts)
    credentials: dict[str, OpenedCredential] = field(default_factory=dict)
    # told (credential ids, host) when an MCP session opened with them: where they went
    credentials_sent: Callable[[list[uuid.UUID], str], Awaitable[None]] | None = None
    # where each tool call is recorded as it starts and returns (core.agents.tool_calls)
    journal: Journal | None = None
    # the `knowledge_search` tool's search: a query to the passages the agent may read
    knowledge: Callable[[str], list[dict[str, Any]]] | None = None
    # the memory tools' store (core.knowledge.memories.RunMemory), and what was recalled from
    # it at the start of the run (added to the instructions)
    memory: Any = None
    recalled: str | None = None
    # the run these deps serve (a delegated agent's: its parent's): names what a tool sends
    # out, so a resent request is known as the same one (an A2A message's id)
    execution_id: uuid.UUID | None = None


# built agents kept per thread: a version's definition never changes, and building costs about
# as much as a third of a short run
AGENTS_PER_THREAD = 64
_built = threading.local()


def agent_of_version(
    version: tuple[Any, str],
    definition: AgentDefinition,
    settings: Settings,
    *,
    model: Model | None = None,
) -> Agent[RunDeps, Any]:
    """The agent of (agent id, version), built once per thread (a model's client belongs to the
    thread's event loop) and settings object; a given `model` (Backends.model) is not cached."""
    if model is not None:
        return build_agent(definition, settings, model=model)
    cache: OrderedDict[tuple[Any, str], tuple[Settings, Agent[RunDeps, Any]]] = (
        _built.__dict__.setdefault("agents", OrderedDict())
    )
    hit = cache.get(version)
    if hit is not None and hit[0] is settings:
        cache.move_to_end(version)
        return hit[1]
    agent = build_agent(definition, settings)
    cache[version] = (settings, agent)
    if len(cache) > AGENTS_PER_THREAD:
        cache.popitem(last=False)
    return agent


def build_agent(
    definition: AgentDefinition,
    settings: Settings,
    *,
    model: Model | None = None,
    approvals_granted: bool = False,
) -> Agent[RunDeps, Any]:
    """`model`: answers instead of the definition's provider (Backends.model).
    `approvals_granted`: a person approved the run as a whole (an approved delegation): no
    tool waits for approval."""
    from pydantic_ai import Agent

    configs = check_definition(definition, loc=("definition",))
    given = model
    model = given or build_run_model(definition.model, settings)
    from core.agents.tool_calls import journaled_tool_calls

    tools: list[Any] = []
    capabilities: list[Any] = []

    def ask(required: bool) -> bool:
        return required and not approvals_granted

    for ref in definition.enabled_tools():
        from core.tools.registry import TOOL_SPECS, offline_web_search_tool

        spec = TOOL_SPECS[ref.name]
        config = configs[ref.name]
        if not spec.native:
            tools.append(spec.build(config, requires_approval=ask(ref.requires_approval)))
        elif definition.model.provider == "test" or given is not None:
            tools.append(
                offline_web_search_tool(config, requires_approval=ask(ref.requires_approval))
            )
        else:
            capabilities.append(_native_web_search(config))
    if definition.knowledge:
        from core.tools.knowledge import knowledge_search_tool

        tools.append(knowledge_search_tool())
    if definition.memory.enabled:
        from core.tools.memory import memory_tools

        tools += memory_tools()
    toolsets: list[Any] = []
    if definition.mcp_servers:
        from core.mcp.toolset import mcp_toolset

        toolsets = [
            mcp_toolset(spec, settings, TOOL_RETRIES, approvals=not approvals_granted)
            for spec in definition.mcp_servers
        ]
    if definition.a2a_agents:
        from core.a2a.toolset import a2a_toolset

        toolsets.append(
            a2a_toolset(
                definition.a2a_agents, settings, TOOL_RETRIES, approvals=not approvals_granted
            )
        )
    if tools or toolsets:  # an agent without tools calls none: nothing to journal
        capabilities.insert(0, journaled_tool_calls())
    agent: Agent[RunDeps, Any] = Agent(
        model,
        deps_type=RunDeps,
        output_type=_output_type(definition, approvals_granted),
        # instructions, not system_prompt: sent with every request, so a session started before a
        # PATCH or rollback hears the agent's current prompt (a system prompt part lives in the
        # history and is not sent again once there is one)
        instructions=definition.system_prompt or None,
        tools=tools,
        toolsets=toolsets or None,
        capabilities=capabilities,
        retries=TOOL_RETRIES,
    )
    if definition.output_schema is not None:
        _validate_output_against(agent, definition.output_schema)
    if definition.memory.enabled:
        _recall_into_instructions(agent)
    return agent


def _recall_into_instructions(agent: Agent[RunDeps, Any]) -> None:
    from pydantic_ai import RunContext

    @agent.instructions
    def _recalled(ctx: RunContext[RunDeps]) -> str | None:
        return ctx.deps.recalled


def _output_type(definition: AgentDefinition, approvals_granted: bool = False) -> Any:
    """The answer's type; a run that may stop for approvals may also end with the calls that
    wait (DeferredToolRequests)."""
    from pydantic_ai import DeferredToolRequests, StructuredDict

    answer: Any = (
        str
        if definition.output_schema is None
        else StructuredDict(
            definition.output_schema,
            name="result",
            description="the final answer, matching the agent's output schema",
        )
    )
    waits = may_wait_for_approval(definition) and not approvals_granted
    return [answer, DeferredToolRequests] if waits else answer


def may_wait_for_approval(definition: AgentDefinition) -> bool:
    """A tool or MCP server needs approval, or a delegate may reach an agent whose does."""
    return definition.needs_approvals() or any(
        tool.name == "delegate" for tool in definition.enabled_tools()
    )


def _validate_output_against(agent: Agent[RunDeps, Any], schema: dict[str, Any]) -> None:
    """StructuredDict only shapes the request; the schema itself is checked here."""
    from jsonschema import Draft202012Validator
    from pydantic_ai import ModelRetry

    validator = Draft202012Validator(schema)

    @agent.output_validator
    def _matches_schema(output: dict[str, Any]) -> dict[str, Any]:
        errors = sorted(validator.iter_errors(output), key=lambda e: list(e.absolute_path))
        if errors:
            described = "; ".join(
                f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in errors[:5]
            )
            raise ModelRetry(f"the output does not match the schema: {described}")
        return output


def _native_web_search(config: Any) -> Any:
    from pydantic_ai.capabilities import WebSearch

    options = config.model_dump(exclude_none=True)
    return WebSearch(**options)
