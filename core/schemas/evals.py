"""Eval sets and eval runs as the API takes and answers them (DESIGN §8 "Evals")."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from core.definition import ModelRef
from core.json_schema import NESTS_FREELY, json_nesting
from core.schemas.agents import PromptInput
from core.schemas.common import (
    FREE_JSON_LEVELS,
    PageQuery,
    RequestModel,
    ResponseModel,
    absent_not_null,
    within_free_json_levels,
)

MAX_CASES = 500
CaseName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _any_json(schema: dict[str, Any]) -> None:
    """Any JSON value, as the document states it (core.http.openapi makes an `{}` branch its
    JsonValue: no NUL, FREE_JSON_LEVELS deep)."""
    schema.clear()
    schema["anyOf"] = [{}]


def _within_levels(value: Any) -> Any:
    if json_nesting(value) > FREE_JSON_LEVELS:  # as deep as the document's JsonValue
        raise ValueError(f"nests at most {FREE_JSON_LEVELS} arrays or objects deep")
    return value


AnyJson = Annotated[Any, AfterValidator(_within_levels)]


class EqualsEvaluator(_Strict):
    """The output equals `value` (default: the case's `expected`)."""

    type: Literal["equals"]
    value: AnyJson = Field(default=None, json_schema_extra=_any_json)


class ContainsEvaluator(_Strict):
    """The output (as text) contains `value` (default: the case's `expected`)."""

    type: Literal["contains"]
    value: str | None = Field(default=None, max_length=10_000)
    case_sensitive: bool = True


class RegexEvaluator(_Strict):
    """The output (as text) matches `pattern` somewhere (Python `re.search`)."""

    type: Literal["regex"]
    pattern: str = Field(
        min_length=1,
        max_length=1000,
        # a regular expression, and like every string here no NUL (a pattern and a format
        # together: core.http.openapi adds the NUL rule only to strings without a format)
        json_schema_extra={"format": "regex", "pattern": "^[^\\u0000]*$"},
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern


class JsonSchemaEvaluator(_Strict):
    """The output (a structured output, or text that parses as JSON) follows `schema`."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(
        alias="schema",
        # a schema nests as deep as the output it describes (as a definition's output_schema)
        json_schema_extra={"additionalProperties": NESTS_FREELY},
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("schema_")
    @classmethod
    def _is_a_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        return schema


class ToolCalledEvaluator(_Strict):
    """The run called `tool` (tool_called) or never did (tool_not_called)."""

    type: Literal["tool_called", "tool_not_called"]
    tool: str = Field(min_length=1, max_length=128)


class MaxCostEvaluator(_Strict):
    """The run cost at most `value` USD (a run of an unpriced model fails it)."""

    type: Literal["max_cost_usd"]
    value: float = Field(ge=0, le=1000)


class MaxLatencyEvaluator(_Strict):
    """The run took at most `value` milliseconds, start to end."""

    type: Literal["max_latency_ms"]
    value: float = Field(gt=0, le=3_600_000)


class LlmJudgeEvaluator(_Strict):
    """A model grades the output against `rubric` (pydantic-evals' LLMJudge), on a model the
    owner names; it sees the case's input too."""

    type: Literal["llm_judge"]
    rubric: str = Field(min_length=1, max_length=5000)
    model: ModelRef


EvaluatorSpec = Annotated[
    EqualsEvaluator
    | ContainsEvaluator
    | RegexEvaluator
    | JsonSchemaEvaluator
    | ToolCalledEvaluator
    | MaxCostEvaluator
    | MaxLatencyEvaluator
    | LlmJudgeEvaluator,
    Field(discriminator="type"),
]


class EvalCaseSpec(_Strict):
    name: CaseName
    input: PromptInput
    expected: AnyJson = Field(default=None, json_schema_extra=_any_json)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _free_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        return within_free_json_levels(value)


def _names_once(cases: list[EvalCaseSpec]) -> list[EvalCaseSpec]:
    names = [case.name for case in cases]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"each case name may appear once; repeated: {', '.join(repeated)}")
    return cases


class FromSession(RequestModel):
    """Cases made of a session's past turns: each picked turn's input, and its answer as the
    expected output."""

    session_id: uuid.UUID
    turns: list[Annotated[int, Field(ge=1)]] = Field(
        min_length=1, max_length=MAX_CASES, description="1 for the first turn, in turn order"
    )


def _cases_or_turns(schema: dict[str, Any], model: type[BaseModel]) -> None:
    absent_not_null(schema, model)
    schema["anyOf"] = [
        {"required": ["cases"], "properties": {"cases": {"minItems": 1}}},
        {"required": ["from_session"]},
    ]


class EvalSetCreate(RequestModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_cases_or_turns)
    NOT_NULL = ("from_session",)

    name: str = Field(min_length=1, max_length=100)
    cases: list[EvalCaseSpec] = Field(default_factory=list, max_length=MAX_CASES)
    evaluators: list[EvaluatorSpec] = Field(min_length=1, max_length=20)
    from_session: FromSession | None = Field(
        default=None, description="add cases made of these turns of one of your sessions"
    )

    _once = field_validator("cases")(_names_once)

    @model_validator(mode="after")
    def _some_cases(self) -> EvalSetCreate:
        if not self.cases and self.from_session is None:
            raise ValueError("an eval set needs cases (cases, or from_session)")
        return self


class EvalSetUpdate(RequestModel):
    NOT_NULL = ("name", "cases", "evaluators")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    cases: list[EvalCaseSpec] | None = Field(default=None, min_length=1, max_length=MAX_CASES)
    evaluators: list[EvaluatorSpec] | None = Field(default=None, min_length=1, max_length=20)

    _once = field_validator("cases")(_names_once)


class EvalSetPublic(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    version: int = Field(description="counts the saves of its cases and evaluators")
    cases: list[dict[str, Any]]
    evaluators: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class EvalRequest(RequestModel):
    NOT_NULL = ("version",)

    eval_set_id: uuid.UUID
    version: str | None = Field(
        default=None, max_length=32, description="the agent's version to run (default: current)"
    )
    repeat: int = Field(default=1, ge=1, le=10, description="runs of each case")


class EvalCaseResult(ResponseModel):
    name: str
    input: Any = Field(description="the case's input, as the set's version ran it")
    repeat_index: int
    execution_id: uuid.UUID | None = Field(description="its execution, once started")
    passed: bool | None = Field(description="null until scored")
    scores: dict[str, Any] = Field(description="evaluator → true/false (or a number)")
    reasons: dict[str, str] = Field(description="evaluator → why, where it says")


class Latency(ResponseModel):
    p50: float | None
    p95: float | None


class EvalPublic(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    eval_set_id: uuid.UUID
    eval_set_version: int
    agent_version: str
    repeat: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    pass_rate: float | None = Field(ge=0, le=1, description="passed cases / cases, once scored")
    done: int = Field(description="cases scored so far")
    total: int = Field(description="cases times repeat")
    cost_usd: Decimal | None
    tokens: int
    latency_ms: Latency
    cases: list[EvalCaseResult]
    error: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


class EvalListItem(ResponseModel):
    id: uuid.UUID
    eval_set_id: uuid.UUID
    eval_set_version: int
    agent_version: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    pass_rate: float | None = Field(ge=0, le=1)
    created_at: datetime


class CaseChange(ResponseModel):
    name: str
    before: bool | None
    after: bool | None


class EvalComparison(ResponseModel):
    base: EvalListItem
    other: EvalListItem
    better: list[CaseChange] = Field(description="failed in base, passed in other")
    worse: list[CaseChange] = Field(description="passed in base, failed in other")
    same: int = Field(ge=0)
    pass_rate_change: float | None = Field(ge=-1, le=1, description="other's minus base's")


class EvalsQuery(PageQuery):
    eval_set_id: uuid.UUID | None = Field(default=None, description="only this set's evals")
