"""A local fake of the two Vertex AI model endpoints the service calls, for wiring tests.

`FakeVertex` runs a stdlib `ThreadingHTTPServer` on 127.0.0.1 (port 0) in a daemon thread and
speaks just enough of each wire format for google-genai and anthropic's Vertex client:

- Gemini (publisher `google`): `:generateContent` answers a `GenerateContentResponse`;
  `:streamGenerateContent?alt=sse` answers the same as server-sent `data:` chunks.
- Claude (publisher `anthropic`): `:rawPredict` answers a Messages API `message`;
  `:streamRawPredict` answers the Messages streaming events (message_start, content_block_*,
  message_delta, message_stop).

Paths that arrive for `base_url = fake.url` (no path; checked empirically with google-genai 2.34
and anthropic 2.13):

- google-genai appends its API version itself:
  `POST /v1beta1/projects/{P}/locations/{L}/publishers/google/models/{M}:generateContent`
  (a base URL with a path keeps it: `fake.url + "/x"` gives `/x/v1beta1/projects/…`)
- anthropic's Vertex client does not: its default base URL is `https://…aiplatform…/v1`, so a
  custom base URL must carry the version, `base_url = fake.url + "/v1"` (`fake.anthropic_base_url`)
  gives `POST /v1/projects/{P}/locations/{R}/publishers/anthropic/models/{M}:rawPredict`
  (a bare `fake.url` gives the same path without `/v1`, which real Vertex would reject).

Each publisher has a script: a queue of `Turn`s served in order, so a test can say "call tool X
with these arguments, then answer 'done'". A turn is rendered in whichever format the request
asks for (plain or streamed). An empty queue serves `Script.default` if set, else a 400 (not
retried by either client) naming the unscripted request. Every request is recorded.

Authentication without network: `fake_credentials()` is a google-auth `Credentials` holding a
static token and no expiry. Both clients refresh only when `credentials.expired or not
credentials.token`, so it is used as is; a plain `Credentials(token=...)` works too, this
subclass only makes a refresh attempt fail loudly instead of trying to reach Google.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from google.oauth2.credentials import Credentials

FAKE_TOKEN = "fake-token"

_ROUTE = re.compile(
    r"^(?P<prefix>.*?)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$"
)
_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
_ANTHROPIC_ERROR = {
    400: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class _StaticCredentials(Credentials):
    def refresh(self, request: Any) -> None:
        raise AssertionError("fake credentials must never be refreshed (that would hit Google)")


def fake_credentials(token: str = FAKE_TOKEN) -> Credentials:
    """google-auth credentials that both Vertex clients use without refreshing."""
    return _StaticCredentials(token=token)  # type: ignore[no-untyped-call]  # google-auth


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    id: str | None = None  # Claude needs one; generated when omitted


@dataclass(frozen=True)
class Turn:
    """One scripted model response (or an HTTP error when `status` is not 200)."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int = 11
    output_tokens: int = 7
    status: int = 200
    error_message: str = "scripted error"


def text(value: str, *, input_tokens: int = 11, output_tokens: int = 7) -> Turn:
    return Turn(text=value, input_tokens=input_tokens, output_tokens=output_tokens)


def tool_call(name: str, input_tokens: int = 11, output_tokens: int = 7, **args: Any) -> Turn:
    return Turn(
        tool_calls=(ToolCall(name, args),), input_tokens=input_tokens, output_tokens=output_tokens
    )


def error(status: int, message: str = "scripted error") -> Turn:
    return Turn(status=status, error_message=message)


@dataclass
class Script:
    turns: deque[Turn] = field(default_factory=deque)
    default: Turn | None = None  # served when `turns` is empty (e.g. a provider that is down)

    def then(self, *turns: Turn) -> Script:
        self.turns.extend(turns)
        return self

    def next(self) -> Turn | None:
        return self.turns.popleft() if self.turns else self.default


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None

    @property
    def route(self) -> dict[str, str]:
        """prefix, project, location, publisher, model and method of a model call ({} if none)."""
        match = _ROUTE.match(urlsplit(self.path).path)
        return match.groupdict() if match else {}


class FakeVertex:
    """Fake Vertex endpoints on 127.0.0.1. Use as a context manager (or `start`/`stop`)."""

    def __init__(self) -> None:
        self.gemini = Script()
        self.claude = Script()
        self.requests: list[RecordedRequest] = []
        # statuses the next embedding requests answer instead of vectors (a 429, a 500)
        self.embedding_failures: deque[int] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # a short poll interval: shutdown() waits for the serving loop to notice (0.5 s default)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def anthropic_base_url(self) -> str:
        return f"{self.url}/v1"  # anthropic's client expects the API version in its base URL

    def requests_to(self, publisher: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.route.get("publisher") == publisher]

    def start(self) -> FakeVertex:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeVertex:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request handling (runs on the server's threads) -----------------------------------

    def _handle(self, request: RecordedRequest) -> tuple[int, str, bytes]:
        route = request.route
        if route.get("publisher") == "google" and route.get("method") in EMBEDDING_METHODS:
            with self._lock:
                self.requests.append(request)
                failure = self.embedding_failures.popleft() if self.embedding_failures else None
            if failure is not None:
                return _json(failure, _google_error(Turn(status=failure, error_message="busy")))
            return _embeddings(route["model"], route["method"], request.body)
        with self._lock:
            self.requests.append(request)
            script = {"google": self.gemini, "anthropic": self.claude}.get(
                route.get("publisher", "")
            )
            turn = script.next() if script else None
            serial = next(self._ids)
        if not route or script is None:
            return _json(404, {"error": {"code": 404, "message": f"no route {request.path}"}})
        refused = _refusal(route["publisher"], route["model"], request.body)
        if refused is not None:  # what the real endpoint refuses, whatever the script says
            if route["publisher"] == "google":
                return _json(400, _google_error(Turn(status=400, error_message=refused)))
            return _json(400, _anthropic_error(Turn(status=400, error_message=refused)))
        if turn is None:
            return _json(400, {"error": {"code": 400, "message": f"unscripted {request.path}"}})
        model, method = route["model"], route["method"]
        if route["publisher"] == "google":
            if turn.status != 200:
                return _json(turn.status, _google_error(turn))
            if method == "streamGenerateContent":
                return _sse(200, [(None, chunk) for chunk in _gemini_chunks(turn, model, serial)])
            return _json(200, _gemini_response(turn, model, serial))
        if turn.status != 200:
            return _json(turn.status, _anthropic_error(turn))
        if method == "streamRawPredict":
            return _sse(200, _claude_events(turn, model, serial))
        return _json(200, _claude_message(turn, model, serial))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real endpoints
            # headers and body go out as two writes: without this the body waits for the
            # client's delayed ACK (40 ms) on a reused connection
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, content_type, payload = fake._handle(
                    RecordedRequest("POST", self.path, headers, body)
                )
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


# -- wire formats ---------------------------------------------------------------------------

# Gemini embeddings on Vertex: gemini-embedding-001 through `:predict` (one instance per
# request: "batchSize must be 1"), the newer models through `:embedContent` (one content). The
# vectors are the offline test embedder's of the text (lexical, so retrieval means something),
# at the requested outputDimensionality (default 3072) and, as Vertex's below 3072, not
# normalized to unit length.
EMBEDDING_METHODS = ("predict", "embedContent")


def _embeddings(model: str, method: str, body: Any) -> tuple[int, str, bytes]:
    from core.knowledge.embedders import HashingEmbedder

    def vector(text: str, dims: int) -> list[float]:
        unit = HashingEmbedder(dims).embed([text], "document")[0]
        return [2.5 * x for x in unit] if dims < 3072 else unit

    def text_of(content: Any) -> str:
        if isinstance(content, str):
            return content
        return "".join(str(part.get("text", "")) for part in (content or {}).get("parts", []))

    body = body if isinstance(body, dict) else {}
    if method == "predict":
        if model != "gemini-embedding-001":
            return _json(
                400, _google_error(Turn(status=400, error_message=f"{model}: use embedContent"))
            )
        instances = body.get("instances") or []
        if len(instances) != 1:
            return _json(
                400,
                _google_error(
                    Turn(
                        status=400,
                        error_message="Unable to submit request because it included too many "
                        "instances. batchSize must be 1 but the entered value was "
                        f"{len(instances)}.",
                    )
                ),
            )
        dims = int((body.get("parameters") or {}).get("outputDimensionality") or 3072)
        text = text_of(instances[0].get("content"))
        values = vector(text, dims)
        return _json(
            200,
            {
                "predictions": [
                    {
                        "embeddings": {
                            "values": values,
                            "statistics": {"token_count": len(text.split()), "truncated": False},
                        }
                    }
                ],
                "metadata": {"billableCharacterCount": len(text)},
            },
        )
    config = body.get("embedContentConfig") or {}
    dims = int(config.get("outputDimensionality") or 3072)
    text = text_of(body.get("content"))
    return _json(
        200,
        {
            "embedding": {"values": vector(text, dims)},
            "usageMetadata": {"promptTokenCount": len(text.split())},
        },
    )


CLAUDE_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# Vertex's FunctionDeclaration.name: a letter or _ first, then letters, digits, _ . : -, <= 128
GEMINI_TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")


def _refusal(publisher: str, model: str, body: Any) -> str | None:
    """The providers' documented request rules (their 400s), enforced here so that a request
    Claude or Gemini would refuse fails in the tests too."""
    if not isinstance(body, dict):
        return None
    if publisher == "anthropic":
        names = []
        for index, tool in enumerate(body.get("tools") or []):
            if "input_schema" not in tool:  # a server tool (web search): no name rule
                continue
            name = str(tool.get("name", ""))
            if not CLAUDE_TOOL_NAME.match(name):
                return (
                    f"tools.{index}.custom.name: String should match pattern "
                    f"'^[a-zA-Z0-9_-]{{1,128}}$'"
                )
            if (tool.get("input_schema") or {}).get("type") != "object":
                return f"tools.{index}.custom.input_schema.type: Input should be 'object'"
            names.append(name)
        if len(names) != len(set(names)):
            return "tools: Tool names must be unique."
        return None
    declarations = [
        declaration
        for tool in body.get("tools") or []
        for declaration in tool.get("functionDeclarations")
        or tool.get("function_declarations")
        or []
    ]
    searches = [
        tool
        for tool in body.get("tools") or []
        if "googleSearch" in tool or "google_search" in tool
    ]
    for declaration in declarations:
        if not GEMINI_TOOL_NAME.match(str(declaration.get("name", ""))):
            return (
                f"Invalid function name {declaration.get('name')!r}: must start with a letter or "
                "an underscore and contain only a-z, A-Z, 0-9, underscores, dots, colons and "
                "dashes, with a maximum length of 128"
            )
    older = "gemini-2.5" in model or "gemini-2.0" in model or "gemini-1" in model
    if declarations and searches and older:
        return "Tool use with function calling is unsupported by the model with Google Search"
    return None


def _json(status: int, body: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()


def _sse(status: int, events: list[tuple[str | None, dict[str, Any]]]) -> tuple[int, str, bytes]:
    chunks = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        chunks.append(f"{head}data: {json.dumps(data)}\n\n")
    return status, "text/event-stream", "".join(chunks).encode()


def _google_error(turn: Turn) -> dict[str, Any]:
    status = _GOOGLE_STATUS.get(turn.status, "UNAVAILABLE")
    return {"error": {"code": turn.status, "message": turn.error_message, "status": status}}


def _anthropic_error(turn: Turn) -> dict[str, Any]:
    kind = _ANTHROPIC_ERROR.get(turn.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": turn.error_message}}


def _gemini_usage(turn: Turn) -> dict[str, int]:
    return {
        "promptTokenCount": turn.input_tokens,
        "candidatesTokenCount": turn.output_tokens,
        "totalTokenCount": turn.input_tokens + turn.output_tokens,
    }


def _gemini_parts(turn: Turn) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": turn.text}] if turn.text is not None else []
    parts += [{"functionCall": {"name": c.name, "args": c.args}} for c in turn.tool_calls]
    return parts


def _gemini_response(turn: Turn, model: str, serial: int) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": _gemini_parts(turn)},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _gemini_usage(turn),
        "modelVersion": model,
        "responseId": f"resp-{serial}",
    }


def pieces(text: str) -> list[str]:
    """A streamed text as the model sends it: word by word (the spaces kept)."""
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + [words[-1]] if text else [text]


def _gemini_chunks(turn: Turn, model: str, serial: int) -> list[dict[str, Any]]:
    # every part (a text word by word) in its own chunk; the last one carries finishReason and
    # usage, as Vertex does
    chunks = []
    parts = [
        {"text": piece} if "text" in part else part
        for part in _gemini_parts(turn) or [{"text": ""}]
        for piece in (pieces(part["text"]) if "text" in part else [None])
    ]
    for index, part in enumerate(parts):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
        chunk: dict[str, Any] = {"modelVersion": model, "responseId": f"resp-{serial}"}
        if index == len(parts) - 1:
            candidate["finishReason"] = "STOP"
            chunk["usageMetadata"] = _gemini_usage(turn)
        chunk["candidates"] = [candidate]
        chunks.append(chunk)
    return chunks


def _claude_blocks(turn: Turn, serial: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if turn.text is not None:
        blocks.append({"type": "text", "text": turn.text})
    for index, call in enumerate(turn.tool_calls):
        call_id = call.id or f"toolu_{serial:04d}_{index}"
        blocks.append({"type": "tool_use", "id": call_id, "name": call.name, "input": call.args})
    return blocks


def _claude_message(turn: Turn, model: str, serial: int) -> dict[str, Any]:
    return {
        "id": f"msg_{serial:04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _claude_blocks(turn, serial),
        "stop_reason": "tool_use" if turn.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens},
    }


def _claude_events(turn: Turn, model: str, serial: int) -> list[tuple[str | None, dict[str, Any]]]:
    message = _claude_message(turn, model, serial)
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": 1},
    }
    events: list[tuple[str | None, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        opened: dict[str, Any]
        if block["type"] == "text":
            opened = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces(block["text"])]
        else:
            opened = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            ),
            *(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                for delta in deltas
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": turn.output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events
