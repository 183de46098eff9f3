"""The offline `test` provider's `test-echo` model: it answers with the person's last message,
streamed a word at a time (ECHO_WORD_S apart), and calls no tool. `make dev` and the console's
browser tests use it to show what a model's markdown looks like, and to stop an answer midway.
It follows one instruction, so a prompt change shows in an eval offline: instructions that say
"reply in capitals" make it answer in capitals."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage
    from pydantic_ai.models import Model
    from pydantic_ai.models.function import AgentInfo
    from pydantic_ai.settings import ModelSettings

ECHO_WORD_S = 0.02


def _last_prompt(messages: list[ModelMessage]) -> str:
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart):
                    content = part.content
                    if isinstance(content, str):
                        return content
                    return " ".join(item for item in content if isinstance(item, str))
    return ""


def _echo(messages: list[ModelMessage], info: AgentInfo) -> str:
    said = _last_prompt(messages) or "(nothing to echo)"
    return said.upper() if "reply in capitals" in (info.instructions or "").lower() else said


def echo_model(settings: ModelSettings | None = None) -> Model:
    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(_echo(messages, info))])

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        for word in re.findall(r"\S+\s*|\s+", _echo(messages, info)):
            await asyncio.sleep(ECHO_WORD_S)
            yield word

    return FunctionModel(respond, stream_function=stream, model_name="test-echo", settings=settings)
