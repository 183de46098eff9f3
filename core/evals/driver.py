"""Driving an eval run (`/tasks/evals/{id}`): each delivery scores the cases whose runs ended,
starts pending cases up to the eval's concurrency, and once every case is scored writes the
summary. Deliveries come when a case's run ends (the run engine enqueues one), and from the
sweeper for an eval nobody drove for a while; any number of them, in any order, at once or
after a crash, leave the same result:

- a case starts in the transaction that inserts its execution and records it on the case, under
  the eval's row lock: a case is never started twice;
- a case is scored under the same lock, once; a delivery that finds the lock held leaves the
  eval to its holder, which looks again for ended cases after each pass;
- case runs are ordinary async executions (`eval_id`, the eval's agent version), so quotas,
  leases, retries and the sweeper treat them as any run. A start the quota refuses waits for the
  next delivery."""

from __future__ import annotations

import logging
import statistics
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.evals.scoring import CaseRun, Score, score_case
from core.models.evals import Eval, EvalCase, EvalSetVersion, EvalStatus
from core.models.executions import (
    AgentExecution,
    ExecutionMode,
    ExecutionStatus,
    WorkflowType,
)
from core.models.sessions import Event, EventType
from core.runs.backends import Backends
from core.runs.events import EventLog
from core.runs.execution_rows import new_execution
from core.runs.queueing import enqueue_execution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Driven:
    """What a delivery did: `finished` once the summary is written."""

    status: str
    started: int = 0
    scored: int = 0


MAX_PASSES = 100  # a delivery's passes while its cases keep ending; later ends wake another


def drive(eval_id: uuid.UUID, backends: Backends, *, judge: Any = None) -> Driven:
    """Pass after pass while cases ended unscored. A delivery that finds another one holding the
    eval's row leaves it to that one (`SKIP LOCKED`), which looks again after each pass: a case
    that ended meanwhile is never left unscored."""
    started = scored = 0
    for _ in range(MAX_PASSES):
        done = _pass(eval_id, backends, judge)
        if done.status != "running":  # finished, done, or another delivery holds it
            return done
        started, scored = started + done.started, scored + done.scored
        if not _ended_unscored(eval_id, backends):
            break
    return Driven("running", started=started, scored=scored)


def _pass(eval_id: uuid.UUID, backends: Backends, judge: Any) -> Driven:
    with backends.unit_of_work() as db:
        locked = select(Eval).where(Eval.id == eval_id).with_for_update(skip_locked=True)
        run = db.execute(locked).scalar()
        if run is None:
            return Driven("busy" if db.get(Eval, eval_id) is not None else "done")
        if EvalStatus(run.status).is_terminal:
            return Driven("done")
        scores = _scores(db, run, backends, judge)
        for position, score in scores.items():
            db.execute(
                update(EvalCase)
                .where(EvalCase.eval_id == eval_id, EvalCase.position == position)
                .values(passed=score.passed, scores=score.scores, reasons=score.reasons)
            )
        cases = list(
            db.scalars(
                select(EvalCase).where(EvalCase.eval_id == eval_id).order_by(EvalCase.position)
            )
        )
        if all(case.passed is not None for case in cases):
            _summarize(db, run, cases, backends)
            db.commit()
            return Driven("finished", scored=len(scores))
        started = _start_cases(db, run, cases, backends)
        run.status = EvalStatus.running
        run.updated_at = backends.clock.now()  # driven now: the sweeper leaves it be
        db.commit()
    for execution_id in started:
        enqueue_execution(backends, execution_id, 1)
    return Driven("running", started=len(started), scored=len(scores))


def _ended(eval_id: uuid.UUID) -> Any:
    return (
        select(EvalCase.position, EvalCase.name, AgentExecution)
        .join(AgentExecution, AgentExecution.id == EvalCase.execution_id)
        .where(
            EvalCase.eval_id == eval_id,
            EvalCase.passed.is_(None),
            AgentExecution.status.in_([s for s in ExecutionStatus if s.is_terminal]),
        )
    )


def _ended_unscored(eval_id: uuid.UUID, backends: Backends) -> bool:
    with backends.unit_of_work() as db:
        return db.execute(_ended(eval_id).limit(1)).first() is not None


def _scores(db: Session, run: Eval, backends: Backends, judge: Any) -> dict[int, Score]:
    """The scores of the cases whose runs ended and that have none yet (under the eval's lock:
    each case is scored once)."""
    ended = db.execute(_ended(run.id)).all()
    if not ended:
        return {}
    content = db.get(EvalSetVersion, (run.eval_set_id, run.eval_set_version))
    assert content is not None
    tools: dict[uuid.UUID, list[str]] = {}
    for execution_id, payload in db.execute(
        select(Event.execution_id, Event.payload).where(
            Event.execution_id.in_([row[2].id for row in ended]),
            Event.type == EventType.tool_call,
        )
    ):
        tools.setdefault(execution_id, []).append(str(payload.get("tool_name")))
    by_name = {case["name"]: case for case in content.cases}
    runs = {
        position: _case_run(by_name[name], execution, tools.get(execution.id, []))
        for position, name, execution in ended
    }
    evaluators = list(content.evaluators)

    async def all_of_them() -> dict[int, Score]:
        settings = backends.settings
        return {
            position: await score_case(case, evaluators, settings, judge)
            for position, case in runs.items()
        }

    from core.agents.loop import run_on_agent_loop

    return run_on_agent_loop(all_of_them())


def _case_run(case: dict[str, Any], execution: AgentExecution, tools: list[str]) -> CaseRun:
    took = None
    if execution.started_at is not None and execution.finished_at is not None:
        took = (execution.finished_at - execution.started_at).total_seconds() * 1000
    return CaseRun(
        name=case["name"],
        input=case["input"],
        expected=case.get("expected"),
        metadata=case.get("metadata") or {},
        status=ExecutionStatus(execution.status).value,
        output=execution.output,
        error=execution.error,
        latency_ms=took,
        cost=execution.cost,
        tools=tuple(tools),
    )


def _start_cases(
    db: Session, run: Eval, cases: list[EvalCase], backends: Backends
) -> list[uuid.UUID]:
    """Start pending cases while fewer than `concurrency` run; each start is its own savepoint,
    so a start the quota refuses ends the starting without undoing the others."""
    from core.runs.quotas import quota_refusal

    in_flight = db.scalar(
        select(func.count())
        .select_from(AgentExecution)
        .where(
            AgentExecution.eval_id == run.id,
            AgentExecution.status.in_(
                [ExecutionStatus.queued, ExecutionStatus.running, ExecutionStatus.waiting_approval]
            ),
        )
    )
    room = run.concurrency - int(in_flight or 0)
    if room <= 0:
        return []
    content = db.get(EvalSetVersion, (run.eval_set_id, run.eval_set_version))
    assert content is not None
    inputs = {case["name"]: case["input"] for case in content.cases}
    started: list[uuid.UUID] = []
    now = backends.clock.now()
    for case in [c for c in cases if c.execution_id is None][:room]:
        execution = new_execution(
            id=uuid.uuid4(),
            agent_id=run.agent_id,
            agent_version=run.agent_version,
            user_id=run.user_id,
            status=ExecutionStatus.queued,
            mode=ExecutionMode.async_,
            workflow_type=WorkflowType.single,
            input=inputs[case.name],
            attempt=0,
            eval_id=run.id,
            created_at=now,
            updated_at=now,
        )
        try:
            with db.begin_nested():
                db.add(execution)
                db.flush()
                EventLog(execution_id=execution.id, session_id=None).add(
                    db, [(EventType.user_message, {"content": execution.input})]
                )
                case.execution_id = execution.id
                db.flush()
        except DBAPIError as exc:
            if quota_refusal(exc, backends.clock.now()) is None:
                raise
            log.info("eval %s: the quota holds its next case back for now", run.id)
            break
        started.append(execution.id)
    return started


def _summarize(db: Session, run: Eval, cases: list[EvalCase], backends: Backends) -> None:
    ids = [case.execution_id for case in cases if case.execution_id is not None]
    executions = list(db.scalars(select(AgentExecution).where(AgentExecution.id.in_(ids))))
    latencies = sorted(
        (e.finished_at - e.started_at).total_seconds() * 1000
        for e in executions
        if e.started_at is not None and e.finished_at is not None
    )
    costs = [e.cost for e in executions if e.cost is not None]
    run.pass_rate = sum(1 for case in cases if case.passed) / len(cases) if cases else None
    # a run of an unpriced model has no cost: then neither has the eval
    run.cost = sum(costs, Decimal(0)) if len(costs) == len(executions) else None
    run.tokens = sum(e.input_tokens + e.output_tokens for e in executions)
    run.latency_p50_ms = statistics.median(latencies) if latencies else None
    run.latency_p95_ms = _p95(latencies)
    run.status = EvalStatus.succeeded
    run.finished_at = backends.clock.now()


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]
