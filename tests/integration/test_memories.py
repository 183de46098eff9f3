"""Memories: what an agent remembers belongs to the person who talked to it. The memory tools
save and search the caller's memories; the most relevant are recalled into the instructions of
the caller's next runs within the definition's token budget; nobody else (the agent's owner
included) reads them, through the API or through a run."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.knowledge.chunking import count_tokens
from tests.support.agents import create_agent, execute
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering

MEMORY = {"enabled": True, "recall_tokens": 60}


def memory_agent(client: Any, headers: dict[str, str], **memory: Any) -> dict[str, Any]:
    return create_agent(
        client,
        headers,
        scope="public",
        definition={"model": {"provider": "test", "name": "test"}, "memory": MEMORY | memory},
    )


class Recorder:
    """A model that saves `save` (when given) with memory_save, then answers; it keeps the
    instructions of every request it was sent."""

    def __init__(self, save: str | None = None) -> None:
        self.save = save
        self.instructions: list[str] = []

    def model(self) -> FunctionModel:
        def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            self.instructions.append(info.instructions or "")
            saved = any(
                getattr(part, "tool_name", None) == "memory_save"
                for message in messages
                for part in getattr(message, "parts", [])
            )
            if self.save and not saved:
                return ModelResponse(
                    parts=[ToolCallPart("memory_save", {"text": self.save}, tool_call_id="m1")]
                )
            return ModelResponse(parts=[TextPart("noted")])

        return FunctionModel(respond)


def test_a_memory_saved_by_one_user_never_reaches_another_users_run(client: Any) -> None:
    _, owner = signed_up(client)
    agent = memory_agent(client, owner)
    _, alice = signed_up(client)
    _, bob = signed_up(client)
    saving = Recorder(save="Alice's favourite colour is teal.")
    with answering(client, saving.model()):
        assert execute(client, alice, agent["id"], input="remember my colour").status_code == 200
    listed = client.get(f"/agents/{agent['id']}/memories", headers=alice).get_json()["items"]
    assert [m["text"] for m in listed] == ["Alice's favourite colour is teal."]
    assert listed[0]["source"] == "tool"
    assert listed[0]["execution_id"]

    later = Recorder()
    with answering(client, later.model()):
        execute(client, alice, agent["id"], input="what colour do I like?")
        execute(client, bob, agent["id"], input="what colour do I like?")
        execute(client, owner, agent["id"], input="what colour do I like?")
    alice_run, bob_run, owner_run = later.instructions
    assert "teal" in alice_run
    assert "teal" not in bob_run
    assert "teal" not in owner_run
    # nor through the API: not to Bob, not to the agent's owner
    for other in (bob, owner):
        assert (
            client.get(f"/agents/{agent['id']}/memories", headers=other).get_json()["items"] == []
        )
        assert_error(client.get(f"/memories/{listed[0]['id']}", headers=other), 404)
        assert_error(
            client.patch(f"/memories/{listed[0]['id']}", headers=other, json={"text": "x"}), 404
        )
        assert_error(client.delete(f"/memories/{listed[0]['id']}", headers=other), 404)


def test_a_person_lists_adds_corrects_and_forgets_their_memories(client: Any) -> None:
    _, owner = signed_up(client)
    agent = memory_agent(client, owner)
    added = client.post(
        f"/agents/{agent['id']}/memories", headers=owner, json={"text": "Works in Lisbon."}
    )
    assert added.status_code == 201
    memory = added.get_json()
    assert memory["source"] == "api"
    assert memory["execution_id"] is None
    corrected = client.patch(
        f"/memories/{memory['id']}", headers=owner, json={"text": "Works in Porto."}
    ).get_json()
    assert corrected["text"] == "Works in Porto."
    assert client.get(f"/memories/{memory['id']}", headers=owner).get_json()["text"] == (
        "Works in Porto."
    )
    recorder = Recorder()
    with answering(client, recorder.model()):
        execute(client, owner, agent["id"], input="where do I work?")
    assert "Works in Porto." in recorder.instructions[0]
    assert client.delete(f"/memories/{memory['id']}", headers=owner).status_code == 204
    assert client.get(f"/agents/{agent['id']}/memories", headers=owner).get_json()["items"] == []
    with answering(client, recorder.model()):
        execute(client, owner, agent["id"], input="where do I work?")
    assert "Porto" not in recorder.instructions[-1]


def test_memories_of_an_agent_one_cannot_see_are_a_404(client: Any) -> None:
    _, owner = signed_up(client)
    private = create_agent(client, owner)
    _, stranger = signed_up(client)
    assert_error(client.get(f"/agents/{private['id']}/memories", headers=stranger), 404)
    assert_error(
        client.post(f"/agents/{private['id']}/memories", headers=stranger, json={"text": "hi"}),
        404,
    )
    assert_error(client.get(f"/memories/{uuid.uuid4()}", headers=owner), 404)


def test_recall_puts_the_most_relevant_memories_first_within_the_budget(client: Any) -> None:
    _, owner = signed_up(client)
    agent = memory_agent(client, owner, recall_tokens=40)
    facts = [f"Owns a bicycle numbered {n} in the garage." for n in range(30)]
    facts.insert(7, "Is allergic to peanuts and all tree nuts.")
    for fact in facts:
        client.post(f"/agents/{agent['id']}/memories", headers=owner, json={"text": fact})
    recorder = Recorder()
    with answering(client, recorder.model()):
        execute(client, owner, agent["id"], input="Suggest a snack; mind my allergies to nuts.")
    recalled = recorder.instructions[0]
    assert "peanuts" in recalled
    lines = [line for line in recalled.splitlines() if line.startswith("- ")]
    assert 1 <= len(lines) < len(facts)
    assert sum(count_tokens(line[2:]) + 2 for line in lines) <= 40
    assert "peanuts" in lines[0]


def test_facts_are_drawn_from_a_turn_in_the_background_once(
    client: Any, queue: Any, worker_headers: dict[str, str]
) -> None:
    _, owner = signed_up(client)
    agent = memory_agent(client, owner, extract=True)
    _, alice = signed_up(client)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if info.instructions and "worth remembering" in info.instructions:
            facts = ["Is a vegetarian.", "Lives in Oslo."]
            return ModelResponse(
                parts=[ToolCallPart(info.output_tools[0].name, {"response": facts})]
            )
        return ModelResponse(parts=[TextPart("Noted!")])

    session = client.post("/sessions", headers=alice, json={"agent_id": agent["id"]}).get_json()
    with answering(client, FunctionModel(respond)):
        turn = client.post(
            f"/sessions/{session['id']}/messages",
            headers=alice,
            json={"content": "I'm a vegetarian and I live in Oslo. Any dinner ideas?"},
        ).get_json()
        assert turn["status"] == "succeeded"
        before = turn["usage"]["requests"]
        [task] = [t for t in queue.tasks if t.path.startswith("/tasks/memories/")]
        assert task.path == f"/tasks/memories/{turn['id']}"
        first = client.post(task.path, headers=worker_headers, json=task.payload)
        again = client.post(task.path, headers=worker_headers, json=task.payload)
    assert first.status_code == 200, first.get_json()
    assert (first.get_json()["status"], again.get_json()["status"]) == ("extracted", "done")
    memories = client.get(f"/agents/{agent['id']}/memories", headers=alice).get_json()["items"]
    assert sorted(m["text"] for m in memories) == ["Is a vegetarian.", "Lives in Oslo."]
    assert {m["source"] for m in memories} == {"extracted"}
    assert {m["execution_id"] for m in memories} == {turn["id"]}
    events = client.get(f"/sessions/{session['id']}/events", headers=alice).get_json()["items"]
    [extracted] = [e for e in events if e["type"] == "memory_extracted"]
    assert extracted["payload"]["count"] == 2
    after = client.get(f"/executions/{turn['id']}", headers=alice).get_json()
    assert after["usage"]["requests"] == before + 1
    # the agent's owner sees none of them
    assert client.get(f"/agents/{agent['id']}/memories", headers=owner).get_json()["items"] == []
