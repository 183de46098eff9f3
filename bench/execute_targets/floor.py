"""Floor for bench/execute.py: a bare Flask handler (functions-framework, same server settings)
that runs the same pydantic-ai TestModel agent and returns its output, persisting nothing."""

from __future__ import annotations

import asyncio

import flask
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

agent = Agent(TestModel(), system_prompt="be brief")


def floor(request: flask.Request) -> dict[str, str]:
    prompt = str((request.get_json(silent=True) or {}).get("input", ""))
    result = asyncio.run(agent.run(prompt))
    return {"output": str(result.output)}
