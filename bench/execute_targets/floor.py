"""Floors for bench/execute.py: bare Flask handlers (functions-framework, same server settings)
that run the same pydantic-ai TestModel agent and return its output, persisting nothing:
`floor` for an execute, `floor_turn` for a conversation's turns (the history in memory)."""

from __future__ import annotations

import asyncio
from typing import Any

import flask
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

agent = Agent(TestModel(), system_prompt="be brief")


def floor(request: flask.Request) -> dict[str, str]:
    prompt = str((request.get_json(silent=True) or {}).get("input", ""))
    result = asyncio.run(agent.run(prompt))
    return {"output": str(result.output)}


# the floor of a session's turns: the same agent given the conversation so far, kept in memory
# per path (one conversation per path), persisting nothing
turn_agent = Agent(TestModel(), instructions="be brief")
conversations: dict[str, list[Any]] = {}


def floor_turn(request: flask.Request) -> dict[str, str]:
    prompt = str((request.get_json(silent=True) or {}).get("content", ""))
    history = conversations.get(request.path, [])
    result = asyncio.run(turn_agent.run(prompt, message_history=history))
    conversations[request.path] = result.all_messages()
    return {"output": str(result.output)}
