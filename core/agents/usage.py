"""What a run used: model requests, tokens, tool calls and cost, as one value that adds up.

A run's usage is stored in the execution's columns of the same names, saved with its progress so
a resumed run counts on from it; a workflow's is the sum of its steps'."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_ai.usage import RunUsage

COST_QUANTUM = Decimal("0.000001")  # the precision of the cost column


@dataclass(frozen=True, slots=True)
class Usage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    # USD; None while nothing used was priced (the test provider, unknown models)
    cost: Decimal | None = None

    COLUMNS = ("requests", "input_tokens", "output_tokens", "tool_calls", "cost")

    def __add__(self, other: Usage) -> Usage:
        cost = (
            None
            if self.cost is None and other.cost is None
            else (self.cost or Decimal(0)) + (other.cost or Decimal(0))
        )
        return Usage(
            self.requests + other.requests,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.tool_calls + other.tool_calls,
            cost,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def of_run(cls, usage: RunUsage) -> Usage:
        """pydantic-ai's running usage (its cost from the bundled price table)."""
        cost = getattr(usage, "cost", None)
        return cls(
            usage.requests,
            usage.input_tokens,
            usage.output_tokens,
            usage.tool_calls,
            None if cost is None else Decimal(str(cost)).quantize(COST_QUANTUM),
        )

    @classmethod
    def of_row(cls, row: Any) -> Usage:
        """From anything with the execution's usage columns as attributes."""
        return cls(
            int(row.requests or 0),
            int(row.input_tokens or 0),
            int(row.output_tokens or 0),
            int(row.tool_calls or 0),
            row.cost,
        )

    def run_usage(self) -> RunUsage:
        """pydantic-ai's running usage starting from this (a resumed run's limits count it)."""
        from pydantic_ai.usage import RunUsage

        return RunUsage(
            requests=self.requests,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tool_calls=self.tool_calls,
            cost=self.cost,
        )

    def columns(self) -> dict[str, Any]:
        """The execution's column values."""
        return {name: getattr(self, name) for name in self.COLUMNS}
