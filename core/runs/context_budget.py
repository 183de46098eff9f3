"""A session's history within its definition's context budget.

Turns are the unit: a turn is a user's request and everything the agent did to answer it (tool
calls and their results included), so nothing is ever split. While the turns after the folded
ones fit in `max_history_tokens`, the model gets the session's summary (if any) and those turns.
Past the budget, the oldest are folded until the rest fits in half of it: summarized together
with the summary so far by the agent's own model (`summarize`; the call counts in the turn's
usage) or dropped (`truncate`). Folding to half the budget means a summary every few turns, not
one per turn. The summary and the number of turns it covers are kept with the session, so what
the model is sent stays bounded however long the session grows; the event log keeps every turn
(event `context_summarized`).

Tokens are estimated as core.knowledge.chunking counts them (words and punctuation), about what
the providers' tokenizers count for English."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from core.agents.usage import Usage
from core.definition import ContextSpec
from core.knowledge.chunking import count_tokens
from core.models.sessions import AgentSession, EventType
from core.runs.backends import Backends

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

# what a file or image part counts for (Gemini bills an image at 258 tokens)
MEDIA_TOKENS = 258
SUMMARY_HEADER = "Summary of the earlier part of this conversation:"
INSTRUCTIONS = (
    "You keep the running summary of a conversation between a user and an assistant. Update "
    "the summary with the new turns below: keep facts, names, numbers, decisions, the user's "
    "preferences and open questions; drop greetings and repetition. Write plain sentences, at "
    "most {words} words, and nothing else."
)


@dataclass
class Fitted:
    messages: list[ModelMessage]
    usage: Usage
    event: dict[str, Any] | None = None


def split_turns(history: Sequence[ModelMessage]) -> list[list[ModelMessage]]:
    """The history's turns: each begins with a request carrying the user's prompt."""
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    turns: list[list[ModelMessage]] = []
    for message in history:
        starts = isinstance(message, ModelRequest) and any(
            isinstance(part, UserPromptPart) for part in message.parts
        )
        if starts or not turns:
            turns.append([])
        turns[-1].append(message)
    return turns


def _text(content: Any) -> str:
    """A prompt's or a result's words (a file stands for itself)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        return " ".join(item if isinstance(item, str) else "[file]" for item in content)
    return "" if content is None else str(content)


def message_tokens(message: ModelMessage) -> int:
    from pydantic_ai.messages import ToolCallPart, ToolReturnPart

    total = 0
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            total += count_tokens(part.args_as_json_str()) + count_tokens(part.tool_name)
        elif isinstance(part, ToolReturnPart):
            total += count_tokens(part.model_response_str())
        else:
            content: Any = getattr(part, "content", None)
            total += count_tokens(_text(content))
            if isinstance(content, list | tuple):
                total += MEDIA_TOKENS * sum(1 for item in content if not isinstance(item, str))
        total += 4  # the part's framing
    return total


def transcript(turns: Sequence[Sequence[ModelMessage]]) -> str:
    from pydantic_ai.messages import TextPart, ToolCallPart, ToolReturnPart, UserPromptPart

    lines: list[str] = []
    for turn in turns:
        for message in turn:
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    lines.append(f"User: {_text(part.content)}")
                elif isinstance(part, TextPart):
                    lines.append(f"Assistant: {part.content}")
                elif isinstance(part, ToolCallPart):
                    lines.append(f"Assistant called {part.tool_name}({part.args_as_json_str()})")
                elif isinstance(part, ToolReturnPart):
                    lines.append(f"{part.tool_name} returned: {part.model_response_str()}")
    return "\n".join(lines)


def summary_messages(summary: str) -> list[ModelMessage]:
    """The summary as the model reads it: a user message and an acknowledgement, so the turns
    that follow still alternate as every provider wants them."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

    return [
        ModelRequest(parts=[UserPromptPart(f"{SUMMARY_HEADER}\n{summary}")]),
        ModelResponse(parts=[TextPart("Understood: I will keep it in mind.")]),
    ]


async def summarize(
    model: Any, summary: str, turns: Sequence[Sequence[ModelMessage]], words: int
) -> tuple[str, Usage]:
    from pydantic_ai import Agent

    summarizer: Agent[None, str] = Agent(model, instructions=INSTRUCTIONS.format(words=words))
    prompt = f"Summary so far:\n{summary or '(none yet)'}\n\nNew turns:\n{transcript(turns)}"
    result = await summarizer.run(prompt)
    text = " ".join(str(result.output).split())
    kept = text.split(" ")
    return " ".join(kept[: max(words, 1)]), Usage.of_run(result.usage)


async def fit_history(
    spec: ContextSpec | None,
    backends: Backends,
    session_id: uuid.UUID | None,
    history: list[ModelMessage],
    model: Any,
) -> Fitted:
    """The history the model is sent for this turn (see the module's docstring)."""
    import asyncio

    if spec is None or session_id is None or not history:
        return Fitted(history, Usage())

    def read() -> tuple[str, int]:
        with backends.unit_of_work() as db:
            row = db.execute(
                select(AgentSession.summary, AgentSession.summary_turns).where(
                    AgentSession.id == session_id
                )
            ).one()
            return str(row[0]), int(row[1])

    summary, folded = await asyncio.to_thread(read)
    turns = split_turns(history)
    folded = min(folded, len(turns))
    rest = turns[folded:]
    sizes = [sum(message_tokens(m) for m in turn) for turn in rest]
    usage = Usage()
    event = None
    if sum(sizes) > spec.max_history_tokens:
        target, total, count = spec.max_history_tokens // 2, sum(sizes), 0
        while count < len(rest) and total > target:
            total -= sizes[count]
            count += 1
        folding, rest = rest[:count], rest[count:]
        before = folded
        if spec.strategy == "summarize":
            words = max(50, spec.max_history_tokens // 4)
            summary, usage = await summarize(model, summary, folding, words)
        folded += count

        def write() -> None:
            with backends.unit_of_work() as db:
                db.execute(
                    update(AgentSession)
                    .where(AgentSession.id == session_id, AgentSession.summary_turns == before)
                    .values(summary=summary, summary_turns=folded)
                )

        await asyncio.to_thread(write)
        event = {
            "strategy": spec.strategy,
            "turns_folded": count,
            "turns_in_summary": folded if spec.strategy == "summarize" else 0,
            "turns_kept": len(rest),
            "history_tokens": total,
            "summary_tokens": count_tokens(summary) if spec.strategy == "summarize" else 0,
            "usage": {
                "requests": usage.requests,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
            },
        }
    messages = [m for turn in rest for m in turn]
    if summary and spec.strategy == "summarize":
        messages = [*summary_messages(summary), *messages]
    return Fitted(messages, usage, event)


def summarized_event(event: dict[str, Any]) -> tuple[EventType, dict[str, Any]]:
    return (EventType.context_summarized, json.loads(json.dumps(event)))
