"""A worker process that SIGKILLs itself at a chosen step boundary of a run (the crash matrix).

    python -m tests.support.crash_worker <execution_id> <boundary>

The run's agent uses the `count` tool (registered here, as in the resuming worker), which appends
its label to $CRASH_COUNTER_FILE: the file tells how often each tool call really ran. The model
is `scripted_model()`: it calls count("a"), then count("b"), then answers "done", deciding from
the tool results it sees, so a resumed run continues where the killed one stopped. Boundaries:

- `before_model:K`   the K-th model call (K = 1, 2, 3) has begun and not returned
- `after_response:K` the K-th model response (one that calls a tool) is saved
- `after_results:K`  the K-th batch of tool results is saved
- `before_finish`    the run ended, its outcome not written yet
- `in_tool:ID`       inside tool call ID: its tool ran (its side effect happened), its result
                     not saved yet. The model is then `one_call_model()` of $CRASH_TOOL_CALL
                     ({"tool", "args"}), and the built-in file tools count their calls too.
- `no_heartbeat`     never extends its lease (a heartbeat that fails, as when the database is
                     out of reach): another delivery may take the run over while a tool runs
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_ai import RunContext

# each model request's price: a resumed run must count each request once
REQUEST_COST = Decimal("0.001")
LABELS = ("a", "b")


class CountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


def make_count(_config: CountConfig) -> Any:
    async def count(ctx: RunContext[Any], label: str) -> str:
        """Count one call with this label."""
        with open(os.environ["CRASH_COUNTER_FILE"], "a") as counter:
            counter.write(label + "\n")
        return f"counted {label}"

    return count


def count_tool() -> Any:
    """The `count` tool's spec (core.tools.registry.ToolSpec)."""
    from core.tools.registry import ToolSpec

    return ToolSpec(
        name="count",
        description="Count a call.",
        config_model=CountConfig,
        maker="tests.support.crash_worker:make_count",
    )


def register_count_tool() -> None:
    from core.tools.registry import TOOL_SPECS

    TOOL_SPECS["count"] = count_tool()


def _results_seen(messages: list[Any]) -> int:
    from pydantic_ai.messages import ModelRequest, ToolReturnPart

    return sum(
        1
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    )


def scripted_model(before_call: Any = None) -> Any:
    """count("a"), count("b"), then "done"; each response has fixed usage and cost."""
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import FunctionModel
    from pydantic_ai.usage import RequestUsage

    def respond(messages: list[Any], info: Any) -> ModelResponse:
        step = _results_seen(messages)
        if before_call is not None:
            before_call(step + 1)
        usage = RequestUsage(input_tokens=10, output_tokens=5, cost=REQUEST_COST)
        if step < len(LABELS):
            label = LABELS[step]
            return ModelResponse(
                parts=[ToolCallPart("count", {"label": label}, tool_call_id=f"call-{label}")],
                usage=usage,
            )
        return ModelResponse(parts=[TextPart("done")], usage=usage)

    return FunctionModel(respond)


def one_call_model() -> Any:
    """Calls $CRASH_TOOL_CALL's tool once (id "call-x"), then answers with what it was told:
    "told: <the tool's result>"."""
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart

    planned = json.loads(os.environ["CRASH_TOOL_CALL"])

    def respond(messages: list[Any], info: Any) -> ModelResponse:
        results = [
            part
            for message in messages
            for part in message.parts
            if isinstance(part, ToolReturnPart) and part.tool_call_id == "call-x"
        ]
        if not results:
            call = ToolCallPart(planned["tool"], planned["args"], tool_call_id="call-x")
            return ModelResponse(parts=[call])
        return ModelResponse(parts=[TextPart(f"told: {results[-1].content}")])

    from pydantic_ai.models.function import FunctionModel

    return FunctionModel(respond)


def count_file_tools() -> None:
    """The built-in file_read and file_write append "read" / "write" to $CRASH_COUNTER_FILE
    each time they really run."""
    from core.tools import file_tools

    for name, label in (("make_file_read", "read"), ("make_file_write", "write")):
        make = getattr(file_tools, name)
        if getattr(make, "counted", False):
            continue

        def counted_make(config: Any, make: Any = make, label: str = label) -> Any:
            tool = make(config)

            @functools.wraps(tool)  # the same schema (its hints resolve in the tool's module)
            def counted(*args: Any, **kwargs: Any) -> Any:
                with open(os.environ["CRASH_COUNTER_FILE"], "a") as counter:
                    counter.write(label + "\n")
                return tool(*args, **kwargs)

            return counted

        counted_make.counted = True  # type: ignore[attr-defined]
        setattr(file_tools, name, counted_make)


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(execution_id: str, boundary: str) -> None:
    from core.config import get_settings
    from core.runs import engine, progress
    from core.runs.backends import Backends
    from core.services import worker

    register_count_tool()
    kind, _, number = boundary.partition(":")
    at = int(number) if number.isdigit() else 0
    model = scripted_model
    if kind == "in_tool":
        from core.runs.tool_journal import ToolJournal

        count_file_tools()
        original_finish = ToolJournal._finish

        def finish_or_die(self: Any, call_id: str, *args: Any) -> None:
            if call_id == number:
                _die()
            original_finish(self, call_id, *args)

        ToolJournal._finish = finish_or_die  # type: ignore[method-assign]
        model = lambda before_call=None: one_call_model()  # noqa: E731
    elif kind == "no_heartbeat":
        count_file_tools()

        async def no_beat(self: Any) -> None:
            return None

        progress.DurableRecorder.heartbeat = no_beat  # type: ignore[method-assign]
        model = lambda before_call=None: one_call_model()  # noqa: E731
    elif kind == "after_response":
        original_response = progress.DurableRecorder.on_model_response
        seen = [0]

        async def on_model_response(self: Any, response: Any, *args: Any) -> None:
            await original_response(self, response, *args)
            if any(part.part_kind == "tool-call" for part in response.parts):
                seen[0] += 1
                if seen[0] == at:
                    _die()

        progress.DurableRecorder.on_model_response = on_model_response  # type: ignore[method-assign]
    elif kind == "after_results":
        original_results = progress.DurableRecorder.on_tool_results
        batches = [0]

        async def on_tool_results(self: Any, *args: Any) -> None:
            await original_results(self, *args)
            batches[0] += 1
            if batches[0] == at:
                _die()

        progress.DurableRecorder.on_tool_results = on_tool_results  # type: ignore[method-assign]
    elif kind == "before_finish":
        engine.finish = lambda *args, **kwargs: _die()  # type: ignore[assignment]

    def before_call(call: int) -> None:
        if kind == "before_model" and call == at:
            _die()

    backends = Backends(get_settings(), model=model(before_call))
    delivery = worker.deliver_execution(uuid.UUID(execution_id), backends)
    print("finished without crashing:", delivery)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
