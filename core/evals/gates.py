"""The release gate: an agent whose `metadata.release_gate` is `{"eval_set_id",
"min_pass_rate"}` has a version made current (rollback) or published only when the latest
finished eval on that set of that version's definition (under any version number: a rollback
repeats one) passed at least `min_pass_rate` of its cases. The refusal is a
409 naming the failing cases (or saying no eval ran). A listing shows the pass rate that let its
version through (`eval_pass_rate`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict
from core.models.agents import Agent, AgentVersion
from core.models.evals import Eval, EvalCase, EvalStatus


def release_gate(agent: Agent) -> tuple[uuid.UUID, float] | None:
    gate: Any = (agent.metadata_ or {}).get("release_gate")
    if not isinstance(gate, dict):
        return None
    try:
        return uuid.UUID(str(gate["eval_set_id"])), float(gate.get("min_pass_rate", 1.0))
    except (KeyError, ValueError):
        return None


def check_release_gate(db: Session, agent: Agent, version: str) -> float | None:
    """Raise the gate's 409 when `version` may not be published or made current; else the pass
    rate that let it through (None: the agent has no gate)."""
    rate, refused = _verdict(db, agent, version)
    if refused is not None:
        raise refused
    return rate


def _verdict(db: Session, agent: Agent, version: str) -> tuple[float | None, Conflict | None]:
    """The pass rate that lets `version` through (None: no gate), or the refusal."""
    gate = release_gate(agent)
    if gate is None:
        return None, None
    set_id, threshold = gate
    # the version's definition, under whichever version number it was evaluated (a rollback
    # makes a new version of a definition that ran before)
    definition = (
        select(AgentVersion.definition)
        .where(AgentVersion.agent_id == agent.id, AgentVersion.version == version)
        .scalar_subquery()
    )
    same = select(AgentVersion.version).where(
        AgentVersion.agent_id == agent.id, AgentVersion.definition == definition
    )
    latest = db.scalar(
        select(Eval)
        .where(
            Eval.agent_id == agent.id,
            Eval.eval_set_id == set_id,
            Eval.agent_version.in_(same),
            Eval.status == EvalStatus.succeeded,
        )
        .order_by(Eval.created_at.desc(), Eval.id.desc())
        .limit(1)
    )
    if latest is None:
        return None, Conflict(
            f"version {version} has no finished eval on the release gate's set {set_id}: run "
            f"one (POST /agents/{agent.id}/evals)",
            code="release_gate_unmet",
        )
    rate = latest.pass_rate or 0.0
    if rate >= threshold:
        return rate, None
    failing = list(
        dict.fromkeys(
            db.scalars(
                select(EvalCase.name)
                .where(EvalCase.eval_id == latest.id, EvalCase.passed.is_not(True))
                .order_by(EvalCase.position)
            )
        )
    )
    return None, Conflict(
        f"version {version} passed {rate:.0%} of eval {latest.id}; the release gate asks for "
        f"{threshold:.0%}. Failing: {', '.join(failing)}",
        code="release_gate_unmet",
        details=[
            {"loc": ["eval", str(latest.id), "cases", name], "msg": "failed", "type": "failed"}
            for name in failing
        ],
    )
