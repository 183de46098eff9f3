"""A run under a daily cost budget: its cost limit is what is left of the day's, and a model the
price table does not know is refused (its runs would cost None, counted as free)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from core.agents.pricing import unpriced_models
from core.definition import AgentDefinition

if TYPE_CHECKING:
    from core.agents.runner import RunOutcome


def unpriced_refusal(definition: AgentDefinition, cost_left: Decimal | None) -> RunOutcome | None:
    """The failed outcome of a run whose models cannot all be priced while a cost budget applies
    (None: it may run). Workflows run no model of their own: their steps are checked."""
    if cost_left is None or definition.workflow is not None:
        return None
    unpriced = unpriced_models(definition.model)
    if not unpriced:
        return None
    from core.agents.runner import RunOutcome

    return RunOutcome(
        "failed",
        error={
            "code": "quota_exceeded",
            "message": f"a daily cost budget applies to you, and {', '.join(unpriced)} has no "
            "known price, so its cost could not be counted: choose a priced model, or ask an "
            "admin to lift your daily_cost_usd",
        },
    )


def cost_limit_of(definition: AgentDefinition, cost_left: Decimal | None) -> Decimal | None:
    """The run's cost limit: what is left of the day's budget. None without a budget, and for the
    offline test provider, whose responses carry no price to hold to a limit."""
    if cost_left is None or definition.model.provider == "test":
        return None
    return cost_left
