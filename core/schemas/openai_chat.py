"""The OpenAI chat-completions shapes the /v1 routes take and give (the subset an agent can
honour): any other OpenAI parameter (temperature, tools, …) is accepted and ignored, since the
agent's definition decides its model and settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import ResponseModel

SESSION_HEADER = "X-Agents-Session"


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str = Field(max_length=200_000)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = Field(default=None)
    name: str | None = Field(default=None, max_length=200)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """`model`: an agent's id, or the name of one you may run (yours first). Only the last
    message is new input, and it must be the user's. With the header X-Agents-Session (one of
    your sessions of that agent) the session keeps the conversation and earlier messages are
    not read; without it, earlier messages reach the agent as a transcript before the new one."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] | None = None


class AssistantMessage(ResponseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None


class Choice(ResponseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class CompletionUsage(ResponseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(ResponseModel):
    id: str = Field(description="chatcmpl- and the execution's id")
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class ModelEntry(ResponseModel):
    id: str = Field(description="the agent's id")
    object: Literal["model"] = "model"
    created: int
    owned_by: str = Field(description="the owner's username")
    name: str
    display_name: str


class ModelList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[ModelEntry]
