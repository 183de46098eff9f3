"""Memories drawn from a session turn, in the background (`/tasks/memories/{execution_id}`),
for agents whose definition says `memory: {enabled, extract}`.

The agent's own model reads the turn (its user's words and the agent's answers) with what it
already remembers of that person, and proposes at most MAX_FACTS new durable facts. They are
stored as the person's memories with the turn they came from, with the event
`memory_extracted` and the call's usage added to the turn's (and to its user's day), in one
transaction that first checks the turn has no such event: a duplicate delivery stores nothing
twice."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from core.agents.usage import Usage
from core.definition import AgentDefinition
from core.knowledge.memories import MemoryFull, memories_of, save
from core.models.agents import AgentVersion
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.memories import MemorySource
from core.models.sessions import Event, EventType
from core.runs.backends import Backends
from core.runs.context_budget import transcript
from core.runs.engine import messages_of
from core.runs.events import EventLog
from core.runs.quotas import count_late_usage
from core.services.delivery import Delivery

log = logging.getLogger(__name__)

MAX_FACTS = 5
INSTRUCTIONS = (
    "You read one exchange between a user and an assistant and note what is worth remembering "
    "about the user in later conversations: durable facts, preferences, their role or "
    "projects, standing decisions. Not passing details of this task, not what the assistant "
    "said of itself, nothing already remembered. Answer with a list of at most {n} short "
    "sentences about the user (an empty list when nothing is worth remembering)."
)


def deliver_extraction(execution_id: uuid.UUID, backends: Backends) -> Delivery:
    with backends.unit_of_work() as db:
        found = db.execute(
            select(AgentExecution, AgentVersion.definition)
            .join(
                AgentVersion,
                (AgentVersion.agent_id == AgentExecution.agent_id)
                & (AgentVersion.version == AgentExecution.agent_version),
            )
            .where(AgentExecution.id == execution_id)
        ).first()
        if found is None:
            return Delivery("done")
        execution, raw = found
        if execution.status != ExecutionStatus.succeeded or _extracted(db, execution_id):
            return Delivery("done")
        definition = AgentDefinition.model_validate(raw)
        if not (definition.memory.enabled and definition.memory.extract):
            return Delivery("done")
        user_id, agent_id = execution.user_id, execution.agent_id
        known = [m.text for m in memories_of(db, user_id, agent_id)[:50]]
        messages = messages_of(execution.messages)
    if not messages:
        return Delivery("done")
    try:
        facts, usage = _propose(definition, backends, messages, known)
    except Exception as exc:  # the provider failed: the queue brings it back
        log.warning("memory extraction of %s failed: %s", execution_id, exc)
        return Delivery("retrying", {"code": "model_error", "message": str(exc)[:300]}, 30)
    with backends.unit_of_work() as db:
        execution = db.get(AgentExecution, execution_id, with_for_update=True)
        if execution is None or _extracted(db, execution_id):
            return Delivery("done")
        saved: list[str] = []
        seen = {k.casefold() for k in known}
        for fact in facts[:MAX_FACTS]:
            text = " ".join(fact.split())
            if not text or text.casefold() in seen:
                continue
            try:
                memory = save(
                    db,
                    user_id=user_id,
                    agent_id=agent_id,
                    text=text,
                    source=MemorySource.extracted,
                    execution_id=execution_id,
                )
            except MemoryFull:
                break
            saved.append(str(memory.id))
            seen.add(text.casefold())
        count_late_usage(db, execution_id=execution_id, usage=usage)
        EventLog(execution_id=execution_id, session_id=execution.session_id).add(
            db,
            [
                (
                    EventType.memory_extracted,
                    {
                        "memory_ids": saved,
                        "count": len(saved),
                        "usage": {
                            "requests": usage.requests,
                            "input_tokens": usage.input_tokens,
                            "output_tokens": usage.output_tokens,
                            "cost": None if usage.cost is None else str(usage.cost),
                        },
                    },
                )
            ],
        )
    return Delivery("extracted")


def _extracted(db: Any, execution_id: uuid.UUID) -> bool:
    return (
        db.scalar(
            select(Event.id)
            .where(Event.execution_id == execution_id, Event.type == EventType.memory_extracted)
            .limit(1)
        )
        is not None
    )


def _propose(
    definition: AgentDefinition, backends: Backends, messages: list[Any], known: list[str]
) -> tuple[list[str], Usage]:
    from pydantic_ai import Agent

    from core.agents.loop import run_on_agent_loop
    from core.agents.providers import build_run_model

    model = backends.model or build_run_model(definition.model, backends.settings)
    extractor: Agent[None, list[str]] = Agent(
        model, output_type=list[str], instructions=INSTRUCTIONS.format(n=MAX_FACTS)
    )
    remembered = "\n".join(f"- {k}" for k in known) or "(nothing yet)"
    prompt = f"Already remembered:\n{remembered}\n\nThe exchange:\n{transcript([messages])}"
    result = run_on_agent_loop(extractor.run(prompt))
    return [str(fact) for fact in result.output], Usage.of_run(result.usage)
