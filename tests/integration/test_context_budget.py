"""Long sessions stay cheap: past the definition's context budget the oldest turns are folded
into a running summary kept with the session (a model call counted in the turn's usage, event
`context_summarized`) or dropped (`truncate`); whole turns only, so a tool call and its result
stay together; the event log keeps every turn."""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.runs.context_budget import SUMMARY_HEADER, message_tokens
from tests.support.agents import create_agent
from tests.support.api import signed_up
from tests.support.backends import answering

BUDGET = 400
FILLER = "The quick brown fox jumps over the lazy dog near the river bank today. " * 4


class Conversation:
    """Answers each turn (calling the `find` tool on every third), summarizes when asked, and
    keeps what every answering request was sent."""

    def __init__(self) -> None:
        self.sent: list[list[ModelMessage]] = []
        self.summaries = 0

    def model(self) -> FunctionModel:
        def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            if info.instructions and "running summary" in info.instructions:
                self.summaries += 1
                return ModelResponse(parts=[TextPart(f"SUMMARY-{self.summaries} of the talk.")])
            last = messages[-1]
            prompt = next((p.content for p in last.parts if isinstance(p, UserPromptPart)), None)
            if prompt is not None:
                self.sent.append(list(messages))
                if str(prompt).startswith("turn 3") or str(prompt).endswith("tool"):
                    return ModelResponse(
                        parts=[ToolCallPart("find", {"pattern": "*.md"}, tool_call_id="f1")]
                    )
            return ModelResponse(parts=[TextPart(f"answer: {FILLER}")])

        return FunctionModel(respond)


def agent_with(client: Any, headers: dict[str, str], strategy: str) -> dict[str, Any]:
    return create_agent(
        client,
        headers,
        definition={
            "model": {"provider": "test", "name": "test"},
            "tools": [{"name": "find"}],
            "context": {"max_history_tokens": BUDGET, "strategy": strategy},
        },
    )


def talk(client: Any, headers: dict[str, str], agent: dict[str, Any], turns: int) -> str:
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    for n in range(turns):
        suffix = " tool" if n % 3 == 2 else ""
        response = client.post(
            f"/sessions/{session['id']}/messages",
            headers=headers,
            json={"content": f"turn {n}: {FILLER}{suffix}"},
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == "succeeded", response.get_json()
    return str(session["id"])


def history_tokens(messages: list[ModelMessage]) -> int:
    return sum(message_tokens(m) for m in messages[:-1])  # what came before this turn's prompt


def test_a_long_session_is_summarized_and_what_the_model_is_sent_stays_bounded(
    client: Any,
) -> None:
    _, headers = signed_up(client)
    agent = agent_with(client, headers, "summarize")
    conversation = Conversation()
    with answering(client, conversation.model()):
        session_id = talk(client, headers, agent, 24)
    sent = conversation.sent
    assert len(sent) == 24
    late = [history_tokens(m) for m in sent[12:]]
    assert max(late) <= BUDGET + 120, late  # the budget, plus the summary's own lines
    assert conversation.summaries >= 3
    assert conversation.summaries < 24 // 2  # folded to half the budget: not every turn
    last = sent[-1]
    first = last[0]
    assert isinstance(first, ModelRequest)
    assert SUMMARY_HEADER in str(first.parts[0].content)
    assert "SUMMARY-" in str(first.parts[0].content)
    # whole turns only: after the summary's pair, the history starts with a user's prompt, and
    # every tool call sent has its result beside it
    assert any(isinstance(p, UserPromptPart) for p in last[2].parts)
    calls = {p.tool_call_id for m in last for p in m.parts if p.part_kind == "tool-call"}
    results = {p.tool_call_id for m in last for p in m.parts if p.part_kind == "tool-return"}
    assert calls <= results

    events = client.get(
        f"/sessions/{session_id}/events", headers=headers, query_string={"limit": 500}
    ).get_json()["items"]
    summarized = [e for e in events if e["type"] == "context_summarized"]
    assert len(summarized) == conversation.summaries
    assert summarized[0]["payload"]["strategy"] == "summarize"
    assert summarized[0]["payload"]["turns_folded"] >= 1
    assert summarized[0]["payload"]["usage"]["requests"] == 1
    # every turn is still in the log
    prompts = [e for e in events if e["type"] == "user_message"]
    assert len(prompts) == 24
    # the summary's model call counts in its turn's usage
    turns = client.get(
        "/executions", headers=headers, query_string={"session_id": session_id, "limit": 100}
    ).get_json()["items"]
    assert sum(t["usage"]["requests"] for t in turns) >= 24 + 8 + conversation.summaries


def test_truncate_drops_the_oldest_turns_without_a_model_call(client: Any) -> None:
    _, headers = signed_up(client)
    agent = agent_with(client, headers, "truncate")
    conversation = Conversation()
    with answering(client, conversation.model()):
        talk(client, headers, agent, 15)
    assert conversation.summaries == 0
    late = [history_tokens(m) for m in conversation.sent[8:]]
    assert max(late) <= BUDGET, late
    assert all(SUMMARY_HEADER not in str(m[0].parts[0]) for m in conversation.sent)
