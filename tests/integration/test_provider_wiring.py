"""Gemini and Claude on Vertex AI, end to end through `build_model`, against a local fake.

Each test runs a real pydantic-ai agent whose model is built the way the service builds it; only
the endpoint (tests/support/fake_vertex.py on 127.0.0.1) and the credentials (a static token)
are swapped. The assertions are on what reaches the wire.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic_ai import Agent
from pydantic_ai.capabilities import WebSearch
from pydantic_ai.models import Model

from core.agents.providers import ANTHROPIC_DEFAULT_MAX_TOKENS, build_model, build_run_model
from core.config import Settings
from core.definition import ModelRef, ModelSettingsSpec, ModelSpec
from tests.support.fake_vertex import (
    FAKE_TOKEN,
    FakeVertex,
    RecordedRequest,
    Script,
    ToolCall,
    Turn,
    error,
    fake_credentials,
    text,
)

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PROMPT = "You add numbers for the wiring test."
ADD_SCHEMA_PROPERTIES = {"a": {"type": "integer"}, "b": {"type": "integer"}}


@dataclass(frozen=True)
class Case:
    provider: str
    model: str
    publisher: str
    path: str  # of a plain (non-streamed) call

    def ref(self) -> ModelRef:
        return ModelRef.model_validate({"provider": self.provider, "name": self.model})

    def script(self, fake: FakeVertex) -> Script:
        return fake.gemini if self.publisher == "google" else fake.claude


GEMINI = Case(
    "google-vertex",
    "gemini-2.5-flash",
    "google",
    "/v1beta1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-flash"
    ":generateContent",
)
# claude-haiku-4-5 rather than claude-sonnet-4-5: anthropic 2.13 warns (DeprecationWarning) on
# every call to the latter, which filterwarnings=error turns into a failure
CLAUDE = Case(
    "anthropic-vertex",
    "claude-haiku-4-5",
    "anthropic",
    "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
)
BOTH = pytest.mark.parametrize("case", [GEMINI, CLAUDE], ids=["gemini", "claude"])


@pytest.fixture(autouse=True)
def _allow_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    # other tests keep pydantic-ai offline; these talk HTTP, but only to the fake
    monkeypatch.setattr("pydantic_ai.models.ALLOW_MODEL_REQUESTS", True)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any lookup of a host other than the fake's (e.g. a token refresh to Google)."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", b"127.0.0.1"):
            raise AssertionError(f"a test tried to reach {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    with FakeVertex() as server:
        yield server


@pytest.fixture
def settings(fake: FakeVertex) -> Settings:
    return Settings.from_environ(
        {
            "SECRET_KEY": "x" * 40,
            "VERTEX_PROJECT": "proj",
            "VERTEX_LOCATION": "us-central1",
            "VERTEX_BASE_URL": fake.url,
            "ANTHROPIC_VERTEX_BASE_URL": fake.anthropic_base_url,
            "ANTHROPIC_VERTEX_REGION": "us-east5",
        }
    )


def run_agent(
    build: Callable[[httpx2.AsyncClient], Model], prompt: str = "What is 2 + 3?", **agent: Any
) -> Any:
    """Run an agent on the model `build` makes; returns the AgentRunResult."""
    from anthropic import DEFAULT_TIMEOUT

    async def main() -> Any:
        # Our own client, closed before the loop ends: the SDKs' own clients would leak sockets
        # (ResourceWarning). anthropic's default timeout keeps its "stream above ~21k max_tokens"
        # rule as in production; it applies only with that timeout.
        async with httpx2.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
            return await Agent(build(http), **agent).run(prompt)

    return asyncio.run(main())


def model_for(
    case: Case, settings: Settings, spec: ModelSettingsSpec | None = None
) -> Callable[[httpx2.AsyncClient], Model]:
    def build(http: httpx2.AsyncClient) -> Model:
        return build_model(
            case.ref(),
            spec or ModelSettingsSpec(),
            settings,
            credentials=fake_credentials(),
            http_client=http,
        )

    return build


class Adder:
    """The agent's tool; remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        self.calls.append((a, b))
        return a + b


# -- reading the two wire formats -------------------------------------------------------------


def declared_tools(request: RecordedRequest) -> dict[str, dict[str, Any]]:
    """Function tools offered to the model: name -> JSON schema of the arguments."""
    body = request.body
    if request.route["publisher"] == "google":
        # google-genai 2.34 sends the snake_case field name; Vertex's JSON parser accepts both
        return {
            d["name"]: d.get("parametersJsonSchema") or d["parameters_json_schema"]
            for tool in body.get("tools", [])
            for d in tool.get("functionDeclarations", [])
        }
    return {t["name"]: t["input_schema"] for t in body.get("tools", []) if "input_schema" in t}


def system_prompt(request: RecordedRequest) -> str:
    body = request.body
    if request.route["publisher"] == "google":
        return "".join(part["text"] for part in body["systemInstruction"]["parts"])
    system = body["system"]
    return system if isinstance(system, str) else "".join(block["text"] for block in system)


def tool_results(request: RecordedRequest) -> list[str]:
    """The tool outputs sent back to the model, as text."""
    body = request.body
    if request.route["publisher"] == "google":
        return [
            json.dumps(part["functionResponse"]["response"]["return_value"])
            for content in body["contents"]
            for part in content["parts"]
            if "functionResponse" in part
        ]
    return [
        "".join(item["text"] for item in block["content"])
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == "tool_result"
    ]


# -- tests --------------------------------------------------------------------------------------


@BOTH
def test_tool_call_round_trip(case: Case, fake: FakeVertex, settings: Settings) -> None:
    adder = Adder()
    case.script(fake).then(
        Turn(tool_calls=(ToolCall("add", {"a": 2, "b": 3}, id="toolu_add"),), input_tokens=100),
        text("done: 5", input_tokens=150, output_tokens=30),
    )

    result = run_agent(model_for(case, settings), tools=[adder.add], system_prompt=SYSTEM_PROMPT)

    assert result.output == "done: 5"
    assert adder.calls == [(2, 3)]
    first, second = fake.requests
    for request in (first, second):
        assert request.path == case.path
        assert request.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
        assert system_prompt(request) == SYSTEM_PROMPT
        schema = declared_tools(request)["add"]
        assert schema["properties"] == ADD_SCHEMA_PROPERTIES
        assert sorted(schema["required"]) == ["a", "b"]
    assert tool_results(first) == []
    assert tool_results(second) == ["5"]
    if case is CLAUDE:  # Claude links the result to the call by id
        result_block = second.body["messages"][-1]["content"][0]
        assert result_block["tool_use_id"] == "toolu_add"
    # usage is a property in pydantic-ai 2.x (calling it is deprecated)
    usage = result.usage
    assert (usage.requests, usage.tool_calls) == (2, 1)
    assert (usage.input_tokens, usage.output_tokens) == (250, 37)


def test_gemini_settings_reach_generation_config(fake: FakeVertex, settings: Settings) -> None:
    fake.gemini.then(text("ok"))
    spec = ModelSettingsSpec(
        temperature=0.3, top_p=0.9, max_tokens=100, stop_sequences=["END"], seed=7
    )

    run_agent(model_for(GEMINI, settings, spec))

    config = fake.requests[0].body["generationConfig"]
    assert config["temperature"] == 0.3
    assert config["topP"] == 0.9
    assert config["maxOutputTokens"] == 100
    assert config["stopSequences"] == ["END"]
    assert config["seed"] == 7


def test_claude_settings_reach_the_body_without_seed(fake: FakeVertex, settings: Settings) -> None:
    fake.claude.then(text("ok"))
    spec = ModelSettingsSpec(
        temperature=0.3, top_p=0.9, max_tokens=100, stop_sequences=["END"], seed=7
    )

    run_agent(model_for(CLAUDE, settings, spec))

    body = fake.requests[0].body
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 100)
    assert body["stop_sequences"] == ["END"]
    assert "seed" not in body  # Claude has none; the provider drops it rather than fail
    assert "model" not in body  # on Vertex the model is in the path


def test_default_max_tokens(fake: FakeVertex, settings: Settings) -> None:
    fake.gemini.then(text("ok"))
    fake.claude.then(text("ok"))

    run_agent(model_for(GEMINI, settings))
    run_agent(model_for(CLAUDE, settings))

    gemini, claude = fake.requests
    assert "maxOutputTokens" not in gemini.body.get("generationConfig", {})
    assert claude.body["max_tokens"] == ANTHROPIC_DEFAULT_MAX_TOKENS == 4096
    assert claude.route["method"] == "rawPredict"


@pytest.mark.parametrize(
    ("max_tokens", "method"),
    [(21_333, "rawPredict"), (21_334, "streamRawPredict"), (64_000, "streamRawPredict")],
)
def test_claude_streams_when_max_tokens_is_large(
    max_tokens: int, method: str, fake: FakeVertex, settings: Settings
) -> None:
    """anthropic refuses a plain call it expects to exceed 10 minutes (over 21,333 tokens at its
    assumed rate); pydantic-ai then streams, and the run must work the same."""
    adder = Adder()
    fake.claude.then(
        Turn(tool_calls=(ToolCall("add", {"a": 2, "b": 3}),), input_tokens=100),
        text("done: 5", input_tokens=150, output_tokens=30),
    )

    result = run_agent(
        model_for(CLAUDE, settings, ModelSettingsSpec(max_tokens=max_tokens)), tools=[adder.add]
    )

    assert result.output == "done: 5"
    assert adder.calls == [(2, 3)]
    assert [r.route["method"] for r in fake.requests] == [method, method]
    assert all(r.body["stream"] is (method == "streamRawPredict") for r in fake.requests)
    assert tool_results(fake.requests[1]) == ["5"]
    usage = result.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (2, 250, 37)


def test_gemini_streamed_run(fake: FakeVertex, settings: Settings) -> None:
    adder = Adder()
    fake.gemini.then(
        Turn(tool_calls=(ToolCall("add", {"a": 2, "b": 3}),)), text("done: 5", output_tokens=30)
    )

    async def main() -> tuple[str, Any]:
        async with httpx2.AsyncClient(timeout=60) as http:
            agent = Agent(model_for(GEMINI, settings)(http), tools=[adder.add])
            async with agent.run_stream("What is 2 + 3?") as stream:
                return await stream.get_output(), stream.usage

    output, usage = asyncio.run(main())

    assert output == "done: 5"
    assert adder.calls == [(2, 3)]
    stream_path = GEMINI.path.replace(":generateContent", ":streamGenerateContent?alt=sse")
    assert [r.path for r in fake.requests] == [stream_path, stream_path]
    assert tool_results(fake.requests[1]) == ["5"]
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (2, 22, 37)


def test_fallback_to_claude_when_gemini_is_unavailable(
    fake: FakeVertex, settings: Settings
) -> None:
    fake.gemini.default = error(503, "The service is currently unavailable.")
    fake.claude.then(text("answered by claude", input_tokens=40, output_tokens=9))
    spec = ModelSpec(
        provider="google-vertex",
        name=GEMINI.model,
        fallback=[ModelRef(provider="anthropic-vertex", name=CLAUDE.model)],
    )

    def build(http: httpx2.AsyncClient) -> Model:
        return build_run_model(spec, settings, credentials=fake_credentials(), http_client=http)

    result = run_agent(build, system_prompt=SYSTEM_PROMPT)

    assert result.output == "answered by claude"
    assert result.response.model_name == CLAUDE.model
    # google-genai does not retry a 503 by default: one attempt, then straight to Claude
    assert [r.path for r in fake.requests] == [GEMINI.path, CLAUDE.path]
    assert system_prompt(fake.requests[1]) == SYSTEM_PROMPT
    assert fake.requests[1].body["max_tokens"] == ANTHROPIC_DEFAULT_MAX_TOKENS
    usage = result.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 40, 9)


@BOTH
def test_native_web_search_is_declared(case: Case, fake: FakeVertex, settings: Settings) -> None:
    case.script(fake).then(text("searched"))

    result = run_agent(model_for(case, settings), capabilities=[WebSearch()])

    assert result.output == "searched"
    tools = fake.requests[0].body["tools"]
    if case is GEMINI:
        assert {"googleSearch": {}} in tools
    else:  # a server tool, versioned by date (web_search_20250305 with pydantic-ai 2.68)
        assert [t["name"] for t in tools if t["type"].startswith("web_search_")] == ["web_search"]


# -- import cost ----------------------------------------------------------------------------------

_MODULES_AFTER_EACH_BUILD = """
import json, sys
from core.definition import ModelRef, ModelSettingsSpec
from core.agents.providers import build_model
from core.config import Settings

settings = Settings.from_environ(
    {"SECRET_KEY": "x" * 40, "VERTEX_PROJECT": "proj", "VERTEX_LOCATION": "us-central1"}
)
loaded = {}
for provider, name in [("test", "test"), ("google-vertex", "gemini-2.5-flash")]:
    build_model(ModelRef(provider=provider, name=name), ModelSettingsSpec(), settings)
    loaded[provider] = sorted(sys.modules)
print(json.dumps(loaded))
"""


def test_building_a_model_imports_only_its_sdk() -> None:
    # one fresh interpreter (a cold start) builds a test model, then a Gemini one
    out = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER_EACH_BUILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    loaded = {provider: set(modules) for provider, modules in json.loads(out.stdout).items()}
    sdks = ["anthropic", "pydantic_ai.models.anthropic", "google.genai"]
    assert [m for m in sdks if m in loaded["test"]] == []
    assert [m for m in sdks if m in loaded["google-vertex"]] == ["google.genai"]


class Observer:
    """The runner's observer, remembering what it was told."""

    def __init__(self) -> None:
        self.responses: list[Any] = []

    async def on_model_response(self, response: Any, usage: Any, messages: Any) -> None:
        self.responses.append(response)

    async def on_tool_results(self, request: Any, usage: Any, messages: Any) -> None:
        pass

    async def heartbeat(self) -> None:
        pass


@BOTH
def test_a_run_streams_the_text_word_by_word_around_a_tool_call(
    case: Case, fake: FakeVertex, settings: Settings
) -> None:
    """The service's runner (core.agents.runner) on the streaming endpoints: the text before
    the tool call and after its result arrives in pieces, the call runs mid-stream, and what
    is recorded is the whole of it."""
    from core.agents.runner import run_agent as run_steps
    from core.definition import Limits
    from core.runs.live import text_delta

    adder = Adder()
    case.script(fake).then(
        Turn(text="Let me add these.", tool_calls=(ToolCall("add", {"a": 2, "b": 3}),)),
        text("The sum is 5.", output_tokens=30),
    )
    deltas: list[str] = []
    observer = Observer()

    async def main() -> Any:
        async with httpx2.AsyncClient(timeout=60) as http:
            agent = Agent(model_for(case, settings)(http), tools=[adder.add])
            return await run_steps(
                agent,  # type: ignore[arg-type]
                "What is 2 + 3?",
                deps=None,  # type: ignore[arg-type]
                limits=Limits(),
                observer=observer,
                on_event=lambda event: deltas.append(text_delta(event) or ""),
            )

    outcome = asyncio.run(main())

    assert outcome.status == "succeeded", outcome.error
    assert outcome.output == "The sum is 5."
    assert [d for d in deltas if d] == [
        "Let ",
        "me ",
        "add ",
        "these.",
        "The ",
        "sum ",
        "is ",
        "5.",
    ]
    assert adder.calls == [(2, 3)]
    stream = {"google": ":streamGenerateContent?alt=sse", "anthropic": ":streamRawPredict"}
    assert all(r.path.endswith(stream[case.publisher]) for r in fake.requests)
    assert len(fake.requests) == 2
    first = observer.responses[0]
    assert [p.part_kind for p in first.parts] == ["text", "tool-call"]
    assert first.parts[0].content == "Let me add these."
    assert outcome.usage.output_tokens == 37
