"""Run a built agent step by step (pydantic-ai `agent.iter`), reporting each model response and
each batch of tool results to an observer as it happens, and turning every way a run can end
into an outcome: succeeded, failed (limit, model error, bad behaviour) or timed_out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from core.agents.usage import Usage
from core.definition import Limits

if TYPE_CHECKING:
    from pydantic_ai import Agent, DeferredToolResults
    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, UserContent
    from pydantic_ai.usage import RunUsage

    from core.agents.factory import RunDeps

log = logging.getLogger(__name__)

Status = Literal["succeeded", "failed", "timed_out", "cancelled", "waiting_approval"]


class RunStopped(Exception):
    """Raised by an observer when a cancel was requested: at a step's save the run ends there;
    at a heartbeat the step in flight is stopped (a streamed answer stops mid-sentence)."""


class RunAbandoned(Exception):
    """Raised by an observer when this worker no longer owns the run (its lease was taken):
    nothing more may be written."""


class RunObserver(Protocol):
    """Told about each step as it happens; `messages` is everything this run produced so far
    (what a redelivery resumes from). May raise RunStopped or RunAbandoned."""

    async def on_model_response(
        self, response: ModelResponse, usage: RunUsage, messages: list[ModelMessage]
    ) -> None: ...

    async def on_tool_results(
        self, request: ModelRequest, usage: RunUsage, messages: list[ModelMessage]
    ) -> None: ...

    async def heartbeat(self) -> None: ...


@dataclass
class RunOutcome:
    status: Status
    output: Any = None
    error: dict[str, Any] | None = None
    # the messages this run added after the history it was given
    messages: list[ModelMessage] = field(default_factory=list)
    # the run's whole usage, earlier attempts' included
    usage: Usage = field(default_factory=Usage)
    # a transient failure (model 429/503, connection): worth another delivery
    retryable: bool = False
    finished_at: datetime | None = None
    trace_id: str | None = None
    # events observed but not yet written (the service writes them with the outcome)
    pending_events: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    # waiting_approval: the calls a person must decide [{tool_call_id, tool_name, args}]
    pending_approvals: list[dict[str, Any]] | None = None


async def run_agent(
    agent: Agent[RunDeps, Any],
    prompt: str | Sequence[UserContent] | None,
    *,
    deps: RunDeps,
    limits: Limits,
    observer: RunObserver,
    message_history: list[ModelMessage] | None = None,
    timeout_s: float | None = None,
    usage_so_far: Usage | None = None,
    heartbeat_s: float = 20.0,
    decisions: DeferredToolResults | None = None,
    on_event: Callable[[Any], None] | None = None,
    cost_limit: Decimal | None = None,
) -> RunOutcome:
    """`prompt` None resumes from `message_history` (a redelivered run); the history then ends
    with the step saved last, and pydantic-ai carries on from it (pending tool calls run, a
    pending request is sent). Limits count what earlier attempts used (`usage_so_far`).
    `decisions`: a person's approvals and denials of the calls the history ends waiting on.
    A run that reaches calls needing approval ends `waiting_approval` with them pending.
    `on_event`: told pydantic-ai's stream events as they happen (the model's parts as they are
    generated, tool calls and results); the model requests are then streaming ones, and what
    is recorded is the same. `cost_limit`: USD the run may cost in all (pydantic-ai checks it
    before each request, from the responses' prices)."""
    from pydantic_ai import (
        CallToolsNode,
        DeferredToolRequests,
        FallbackExceptionGroup,
        ModelAPIError,
        ModelRequestNode,
        UnexpectedModelBehavior,
        UsageLimitExceeded,
        UsageLimits,
    )
    from pydantic_ai.exceptions import RunTimedOut
    from pydantic_ai.messages import ModelRequest, ModelResponse

    usage_limits = UsageLimits(
        request_limit=limits.max_requests,
        tool_calls_limit=limits.max_tool_calls,
        total_tokens_limit=limits.max_total_tokens,
        cost_limit=cost_limit,
    )
    usage = (usage_so_far or Usage()).run_usage()
    history = list(message_history or [])
    messages: list[ModelMessage] = []
    # What the observer was told already (by this attempt or, on resume, an earlier one): the
    # prompt's request, and the step a resumed history ends with. pydantic-ai hands a resumed
    # run's last response back as a CallToolsNode, and its trailing request as the first
    # ModelRequestNode: neither is news, while the tool results that follow a resumed
    # response are.
    tail = history[-1] if prompt is None and history else None
    told_request: ModelRequest | None = tail if isinstance(tail, ModelRequest) else None
    told_response: ModelResponse | None = tail if isinstance(tail, ModelResponse) else None
    # with decisions, the first request is new: it carries the decided calls' results
    first_request = prompt is not None or (told_request is not None and decisions is None)

    async def steps() -> Any:
        nonlocal messages, first_request
        async with agent.iter(
            prompt,
            deps=deps,
            usage_limits=usage_limits,
            message_history=history or None,
            usage=usage,
            deferred_tool_results=decisions,
        ) as run:
            async for node in run:
                messages = run.all_messages()[len(history) :]
                if isinstance(node, CallToolsNode):
                    if told_response is None or node.model_response != told_response:
                        await observer.on_model_response(node.model_response, usage, messages)
                elif isinstance(node, ModelRequestNode):
                    if not first_request:
                        await observer.on_tool_results(
                            node.request, usage, [*messages, node.request]
                        )
                    first_request = False
                if on_event is not None and isinstance(node, CallToolsNode | ModelRequestNode):
                    # streamed after the observer saved the step: a tool still runs once
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            on_event(event)
            assert run.result is not None
            messages = run.all_messages()[len(history) :]
            return run.result.output

    stopped = False
    running = asyncio.current_task()

    async def beat() -> None:
        nonlocal stopped
        while True:
            try:
                await observer.heartbeat()
            except RunAbandoned:  # the next save finds out too, and ends the run
                return
            except RunStopped:  # a cancel: the step in flight (a model call, a tool) stops now
                stopped = True
                if running is not None:
                    running.cancel()
                return
            except Exception:
                log.exception("the heartbeat of a run failed; it keeps trying")
            await asyncio.sleep(heartbeat_s)

    # most runs end before their first heartbeat: a timer costs less than a sleeping task
    loop = asyncio.get_running_loop()
    beating: list[asyncio.Task[None]] = []

    def outcome(status: Status, **values: Any) -> RunOutcome:
        return RunOutcome(
            status=status,
            messages=messages,
            usage=Usage.of_run(usage),
            **values,
        )

    limit_s = limits.timeout_s if timeout_s is None else timeout_s
    if limit_s <= 0:  # spent before this attempt (a redelivery): not one more model call
        return outcome("timed_out", error=_timed_out(limits))
    first_beat = loop.call_later(heartbeat_s, lambda: beating.append(loop.create_task(beat())))
    try:
        async with asyncio.timeout(limit_s):
            output = await steps()
    except (TimeoutError, RunTimedOut):
        return outcome("timed_out", error=_timed_out(limits))
    except RunStopped:
        return outcome("cancelled", error=_error("cancelled", "cancelled on request"))
    except asyncio.CancelledError:
        if not stopped or running is None:
            raise
        running.uncancel()
        return outcome("cancelled", error=_error("cancelled", "cancelled on request"))
    except UsageLimitExceeded as exc:
        return outcome("failed", error=_error("limit_exceeded", str(exc)))
    except ModelAPIError as exc:
        return outcome(
            "failed",
            error=_error("model_error", _model_error_message(exc)),
            retryable=_is_transient(exc),
        )
    except FallbackExceptionGroup as group:
        # every model of the chain failed: transient only if each failure was
        failures = list(group.exceptions)
        return outcome(
            "failed",
            error=_error(
                "model_error",
                "every model failed: "
                + "; ".join(_model_error_message(exc) for exc in failures)[:1000],
            ),
            retryable=all(_is_transient(exc) for exc in failures),
        )
    except UnexpectedModelBehavior as exc:
        return outcome("failed", error=_error("model_behavior", str(exc)))
    finally:
        first_beat.cancel()
        for task in beating:
            task.cancel()
    if isinstance(output, DeferredToolRequests):
        return outcome(
            "waiting_approval",
            pending_approvals=[
                {
                    "tool_call_id": call.tool_call_id,
                    "tool_name": call.tool_name,
                    "args": call.args_as_dict(),
                    # why it is asked again (core.runs.tool_journal), if it is
                    **_note(output.metadata.get(call.tool_call_id)),
                }
                for call in output.approvals
            ],
        )
    return outcome("succeeded", output=output)


def _note(metadata: Any) -> dict[str, str]:
    note = metadata.get("note") if isinstance(metadata, dict) else None
    return {"note": note} if isinstance(note, str) else {}


def _is_transient(exc: BaseException) -> bool:
    """Worth another delivery: rate limits, overload, server errors, lost connections."""
    from pydantic_ai.exceptions import (
        ModelConnectionError,
        ModelHTTPError,
        ModelRateLimitError,
        ModelRequestTimeout,
        ModelServerError,
        ModelUnavailableError,
    )

    if isinstance(exc, ModelHTTPError) and exc.status_code in (408, 429, 500, 502, 503, 504):
        return True
    return isinstance(
        exc,
        (
            ModelConnectionError,
            ModelRateLimitError,
            ModelRequestTimeout,
            ModelServerError,
            ModelUnavailableError,
        ),
    )


def _timed_out(limits: Limits) -> dict[str, Any]:
    return _error("timeout", f"the run took longer than limits.timeout_s ({limits.timeout_s:g} s)")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _model_error_message(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    name = getattr(exc, "model_name", None) or "the model"
    return f"{name} failed" + (f" with HTTP {status}" if status else "") + f": {exc}"[:500]
