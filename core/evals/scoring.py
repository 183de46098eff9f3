"""Scoring one case's run with pydantic-evals: each evaluator of the set becomes a
pydantic-evals `Evaluator` (its own `Equals`, `Contains` and `LLMJudge`; ours for regex, JSON
Schema, tool use, cost and latency, reading what the run recorded from the context's
`attributes`), run by pydantic-evals' `run_evaluator` on an `EvaluatorContext` of the case.

A case passes when its run succeeded and every evaluator's result is true (a number counts as
a score, not a verdict). A run that did not succeed fails every evaluator, saying how it
ended. pydantic-evals is imported here only, when a case is scored (it is heavy)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.config import Settings
from core.definition import ModelRef, ModelSettingsSpec


@dataclass(frozen=True)
class CaseRun:
    """What a case's execution recorded, as scoring reads it."""

    name: str
    input: Any
    expected: Any
    metadata: dict[str, Any]
    status: str
    output: Any
    error: dict[str, Any] | None
    latency_ms: float | None
    cost: Decimal | None
    tools: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    passed: bool
    scores: dict[str, Any]
    reasons: dict[str, str]


def label(spec: dict[str, Any], index: int) -> str:
    """An evaluator's name in a report: its type, and what it checks where that tells them
    apart."""
    kind = spec["type"]
    if kind in ("tool_called", "tool_not_called"):
        return f"{kind}:{spec['tool']}"
    if kind in ("max_cost_usd", "max_latency_ms"):
        value = spec["value"]
        return f"{kind}:{value:g}" if isinstance(value, float) else f"{kind}:{value}"
    return kind if index == 0 else f"{kind}#{index + 1}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


async def score_case(
    run: CaseRun, evaluators: list[dict[str, Any]], settings: Settings, judge: Any = None
) -> Score:
    """`judge`: the model an llm_judge uses instead of the one it names (tests)."""
    names = _unique_labels(evaluators)
    if run.status != "succeeded":
        why = (run.error or {}).get("message") or f"the run ended {run.status}"
        return Score(
            False,
            {name: False for name in names},
            {name: f"the run did not succeed: {why}" for name in names},
        )
    from pydantic_evals.evaluators import EvaluatorContext
    from pydantic_evals.evaluators._run_evaluator import run_evaluator
    from pydantic_evals.otel import SpanTreeRecordingError

    ctx: EvaluatorContext[Any, Any, Any] = EvaluatorContext(
        name=run.name,
        inputs=run.input,
        metadata=run.metadata,
        expected_output=run.expected,
        output=run.output,
        duration=(run.latency_ms or 0) / 1000,
        _span_tree=SpanTreeRecordingError("spans are not recorded for eval cases"),
        attributes={"tools": list(run.tools), "cost": run.cost, "latency_ms": run.latency_ms},
        metrics={},
    )
    scores: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for name, spec in zip(names, evaluators, strict=True):
        evaluator = _evaluator(spec, run, settings, judge)
        results = await run_evaluator(evaluator, ctx)
        if isinstance(results, list):
            verdicts = [r.value for r in results if isinstance(r.value, bool)]
            value: Any = all(verdicts) if verdicts else (results[0].value if results else False)
            said = "; ".join(r.reason for r in results if r.reason)
        else:  # the evaluator raised: a failure, with its message
            value, said = False, results.error_message
        scores[name] = value
        if value is False and not said and spec["type"] in ("equals", "contains"):
            said = _mismatch(spec, run)
        if said:
            reasons[name] = said[:2000]
    passed = all(value is True for value in scores.values() if isinstance(value, bool))
    return Score(passed, scores, reasons)


def _mismatch(spec: dict[str, Any], run: CaseRun) -> str:
    """Why an equals or contains failed (pydantic-evals' say only false)."""
    wanted = spec.get("value") if spec.get("value") is not None else run.expected
    verb = "is not" if spec["type"] == "equals" else "does not contain"
    return f"the output {_text(run.output)[:300]!r} {verb} {_text(wanted)[:300]!r}"


def _unique_labels(evaluators: list[dict[str, Any]]) -> list[str]:
    labels: list[str] = []
    for index, spec in enumerate(evaluators):
        name = label(spec, 0)
        labels.append(name if name not in labels else label(spec, index))
    return labels


def _evaluator(spec: dict[str, Any], run: CaseRun, settings: Settings, judge: Any) -> Any:
    from pydantic_evals.evaluators import Contains, Equals, LLMJudge

    kind = spec["type"]
    if kind == "equals":
        return Equals(value=spec.get("value") if spec.get("value") is not None else run.expected)
    if kind == "contains":
        wanted = spec.get("value") if spec.get("value") is not None else run.expected
        return Contains(
            value=_text(wanted),
            case_sensitive=spec.get("case_sensitive", True),
            as_strings=True,
        )
    if kind == "llm_judge":
        from core.agents.providers import build_model

        model = judge or build_model(ModelRef(**spec["model"]), ModelSettingsSpec(), settings)
        return LLMJudge(rubric=spec["rubric"], model=model, include_input=True)
    return _ours()[kind](spec)


@functools.cache
def _ours() -> dict[str, Any]:
    """Our evaluators, as pydantic-evals Evaluator dataclasses (built on first use)."""
    from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

    @dataclass
    class Regex(Evaluator[Any, Any, Any]):
        pattern: str

        def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> EvaluationReason:
            found = re.search(self.pattern, _text(ctx.output)) is not None
            return EvaluationReason(found, None if found else f"no match for /{self.pattern}/")

    @dataclass
    class JsonSchema(Evaluator[Any, Any, Any]):
        schema: dict[str, Any]

        def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> EvaluationReason:
            from jsonschema import Draft202012Validator

            output = ctx.output
            if isinstance(output, str):
                try:
                    output = json.loads(output)
                except ValueError:
                    return EvaluationReason(False, "the output is text, not JSON")
            errors = sorted(Draft202012Validator(self.schema).iter_errors(output), key=str)
            if not errors:
                return EvaluationReason(True)
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "the output"
            return EvaluationReason(False, f"{where}: {first.message}")

    @dataclass
    class ToolUse(Evaluator[Any, Any, Any]):
        tool: str
        wanted: bool

        def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> EvaluationReason:
            called = self.tool in ctx.attributes["tools"]
            if called == self.wanted:
                return EvaluationReason(True)
            said = "was not called" if self.wanted else "was called"
            return EvaluationReason(False, f"{self.tool} {said}")

    @dataclass
    class MaxCost(Evaluator[Any, Any, Any]):
        value: float

        def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> EvaluationReason:
            cost = ctx.attributes["cost"]
            if cost is None:
                return EvaluationReason(False, "the run's model has no known price")
            ok = Decimal(cost) <= Decimal(str(self.value))
            return EvaluationReason(ok, None if ok else f"cost {cost} USD > {self.value}")

    @dataclass
    class MaxLatency(Evaluator[Any, Any, Any]):
        value: float

        def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> EvaluationReason:
            took = ctx.attributes["latency_ms"]
            ok = took is not None and took <= self.value
            return EvaluationReason(ok, None if ok else f"took {took:.0f} ms > {self.value:g}")

    return {
        "regex": lambda s: Regex(s["pattern"]),
        "json_schema": lambda s: JsonSchema(s["schema"]),
        "tool_called": lambda s: ToolUse(s["tool"], True),
        "tool_not_called": lambda s: ToolUse(s["tool"], False),
        "max_cost_usd": lambda s: MaxCost(float(s["value"])),
        "max_latency_ms": lambda s: MaxLatency(float(s["value"])),
    }
