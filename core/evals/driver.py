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
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Integer,
    Table,
    bindparam,
    column,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db.direct import direct
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
from core.runs.execution_rows import new_runs_from
from core.runs.leases import ACTIVE
from core.runs.queueing import enqueue_execution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Driven:
    """What a delivery did: `finished` once the summary is written."""

    status: str
    started: int = 0
    scored: int = 0


CASES = cast(Table, EvalCase.__table__)


def _recordset(*columns: Any) -> Any:
    return (
        func.jsonb_to_recordset(bindparam("rows", type_=JSONB))
        .table_valued(*columns)
        .render_derived(with_types=True)
    )


def _case_in_set(field: str | None = None) -> Any:
    """The case's entry (or one field of it) in its eval's set version, by the case's name: a
    column of a query over eval_cases joined to its eval and the set version (so only the
    cases read travel, not the whole set)."""
    entry = func.jsonb_array_elements(EvalSetVersion.cases).table_valued(column("value", JSONB))
    value = entry.c.value if field is None else entry.c.value.op("->")(literal_column(f"'{field}'"))
    return (
        select(sa_cast(value, JSONB))
        .where(entry.c.value.op("->>")(literal_column("'name'")) == EvalCase.name)
        .limit(1)
        .scalar_subquery()
    )


def _cases_with_their_set(*columns: Any) -> Any:
    """The eval's cases (`:eval_ref`), with its set version at hand."""
    return (
        select(*columns)
        .join(Eval, Eval.id == EvalCase.eval_id)
        .join(
            EvalSetVersion,
            (EvalSetVersion.eval_set_id == Eval.eval_set_id)
            & (EvalSetVersion.version == Eval.eval_set_version),
        )
        .where(EvalCase.eval_id == bindparam("eval_ref"))
    )


# each statement built once; the cases a pass scores or starts travel as one JSON array
_ENDED_UNSCORED = (
    EvalCase.eval_id == bindparam("eval_ref"),
    EvalCase.passed.is_(None),
    AgentExecution.status.not_in(ACTIVE),
)
ANY_ENDED_UNSCORED = (
    select(EvalCase.position)
    .join(AgentExecution, AgentExecution.id == EvalCase.execution_id)
    .where(*_ENDED_UNSCORED)
    .limit(1)
)
_TOOLS_CALLED = (
    select(func.array_agg(Event.payload.op("->>")(literal_column("'tool_name'"))))
    .where(Event.execution_id == AgentExecution.id, Event.type == EventType.tool_call)
    .scalar_subquery()
)
ENDED = (
    _cases_with_their_set(
        EvalCase.position,
        _case_in_set().label("case"),
        EvalSetVersion.evaluators,
        AgentExecution.status,
        AgentExecution.output,
        AgentExecution.error,
        AgentExecution.started_at,
        AgentExecution.finished_at,
        AgentExecution.cost,
        _TOOLS_CALLED.label("tools"),
    )
    .join(AgentExecution, AgentExecution.id == EvalCase.execution_id)
    .where(*_ENDED_UNSCORED)
)
_SCORED = _recordset(
    column("position", Integer),
    column("passed", Boolean),
    column("scores", JSONB),
    column("reasons", JSONB),
)
SCORE_CASES = (
    update(CASES)
    .where(CASES.c.eval_id == bindparam("eval_ref"), CASES.c.position == _SCORED.c.position)
    .values(passed=_SCORED.c.passed, scores=_SCORED.c.scores, reasons=_SCORED.c.reasons)
)
PROGRESS = select(
    select(func.count())
    .where(EvalCase.eval_id == bindparam("eval_ref"), EvalCase.passed.is_(None))
    .scalar_subquery(),
    select(func.count())
    .where(
        AgentExecution.eval_id == bindparam("eval_ref"),
        AgentExecution.status.in_(ACTIVE),
    )
    .scalar_subquery(),
)
PENDING = (
    _cases_with_their_set(EvalCase.position, _case_in_set("input"))
    .where(EvalCase.execution_id.is_(None))
    .order_by(EvalCase.position)
    .limit(bindparam("room"))
)
# a case's start: its run, the run's first event and the case's execution_id, one statement
_STARTS = select(
    _recordset(
        column("position", Integer),
        column("id", PG_UUID),
        column("input", JSONB),
        column("event_id", PG_UUID),
    )
).cte("starts")
_NEW_RUNS, _NEW_RUN_EVENTS = new_runs_from(
    _STARTS,
    shared=(
        *("agent_id", "agent_version", "user_id", "eval_id"),
        *("status", "mode", "workflow_type", "attempt", "created_at", "updated_at"),
    ),
)
START_CASES = (
    select(func.count())
    .select_from(_NEW_RUNS)
    .add_cte(_NEW_RUN_EVENTS)
    .add_cte(
        update(CASES)
        .where(CASES.c.eval_id == bindparam("eval_ref"), CASES.c.position == _STARTS.c.position)
        .values(execution_id=_STARTS.c.id)
        .cte("started_cases")
    )
)

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
        with backends.unit_of_work() as db:
            if db.execute(ANY_ENDED_UNSCORED, {"eval_ref": eval_id}).first() is None:
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
        scores = _scores(db, eval_id, backends, judge)
        if scores:
            rows = [{"position": position} | asdict(score) for position, score in scores.items()]
            db.execute(SCORE_CASES, {"eval_ref": eval_id, "rows": rows})
        unscored, in_flight = db.execute(PROGRESS, {"eval_ref": eval_id}).one()
        if not unscored:
            _summarize(db, run, backends)
            db.commit()
            return Driven("finished", scored=len(scores))
        started = _start_cases(db, run, run.concurrency - in_flight, backends)
        run.status = EvalStatus.running
        run.updated_at = backends.clock.now()  # driven now: the sweeper leaves it be
        db.commit()
    for execution_id in started:
        enqueue_execution(backends, execution_id, 1)
    return Driven("running", started=len(started), scored=len(scores))


def _scores(db: Session, eval_id: uuid.UUID, backends: Backends, judge: Any) -> dict[int, Score]:
    """The scores of the cases whose runs ended and that have none yet (under the eval's lock:
    each case is scored once)."""
    ended = db.execute(ENDED, {"eval_ref": eval_id}).all()
    if not ended:
        return {}
    evaluators = list(ended[0].evaluators)
    runs = {row.position: _case_run(row) for row in ended}

    async def all_of_them() -> dict[int, Score]:
        settings = backends.settings
        return {
            position: await score_case(case, evaluators, settings, judge)
            for position, case in runs.items()
        }

    from core.agents.loop import run_on_agent_loop

    return run_on_agent_loop(all_of_them())


def _case_run(ended: Any) -> CaseRun:
    """A row of ENDED: the case and its run."""
    took = None
    if ended.started_at is not None and ended.finished_at is not None:
        took = (ended.finished_at - ended.started_at).total_seconds() * 1000
    return CaseRun(
        name=ended.case["name"],
        input=ended.case["input"],
        expected=ended.case.get("expected"),
        metadata=ended.case.get("metadata") or {},
        status=ExecutionStatus(ended.status).value,
        output=ended.output,
        error=ended.error,
        latency_ms=took,
        cost=ended.cost,
        tools=tuple(ended.tools or ()),
    )


def _start_cases(db: Session, run: Eval, room: int, backends: Backends) -> list[uuid.UUID]:
    """Start pending cases while fewer than `concurrency` run (in a savepoint, one statement).
    When the quota refuses them together, one at a time until it refuses one: that one waits
    for a later delivery."""
    if room <= 0:
        return []
    pending = db.execute(PENDING, {"eval_ref": run.id, "room": room}).all()
    starts = [
        {
            "position": position,
            "id": str(uuid.uuid4()),
            "input": given,
            "event_id": str(uuid.uuid4()),
        }
        for position, given in pending
    ]
    if not starts:
        return []
    if _started(db, run, starts, backends):
        return [uuid.UUID(start["id"]) for start in starts]
    started: list[uuid.UUID] = []
    for start in starts:  # the quota refused them together: as many as it lets start
        if not _started(db, run, [start], backends):
            break
        started.append(uuid.UUID(start["id"]))
    return started


def _started(db: Session, run: Eval, starts: list[dict[str, Any]], backends: Backends) -> bool:
    """Whether the cases started (False: the quota refused them, and nothing of them stays)."""
    from core.runs.quotas import quota_refusal

    now = backends.clock.now()
    shared = {
        "agent_id": run.agent_id,
        "agent_version": run.agent_version,
        "user_id": run.user_id,
        "eval_id": run.id,
        "status": ExecutionStatus.queued,
        "mode": ExecutionMode.async_,
        "workflow_type": WorkflowType.single,
        "attempt": 0,
        "created_at": now,
        "updated_at": now,
    }
    params = {f"run_{key}": value for key, value in shared.items()}
    try:
        with db.begin_nested():
            connection = db.connection()
            direct(START_CASES, connection.dialect).rows(
                connection, params | {"rows": starts, "eval_ref": run.id}
            )
    except DBAPIError as exc:
        if quota_refusal(exc, now) is None:
            raise
        log.info("eval %s: the quota holds cases back for now", run.id)
        return False
    return True


def _summarize(db: Session, run: Eval, backends: Backends) -> None:
    passed = list(db.scalars(select(EvalCase.passed).where(EvalCase.eval_id == run.id)))
    runs = db.execute(
        select(
            AgentExecution.started_at,
            AgentExecution.finished_at,
            AgentExecution.cost,
            AgentExecution.input_tokens + AgentExecution.output_tokens,
        )
        .join(EvalCase, EvalCase.execution_id == AgentExecution.id)
        .where(EvalCase.eval_id == run.id)
    ).all()
    latencies = sorted(
        (finished - started).total_seconds() * 1000
        for started, finished, _, _ in runs
        if started is not None and finished is not None
    )
    costs = [cost for _, _, cost, _ in runs if cost is not None]
    run.pass_rate = sum(1 for p in passed if p) / len(passed) if passed else None
    # a run of an unpriced model has no cost: then neither has the eval
    run.cost = sum(costs, Decimal(0)) if len(costs) == len(runs) else None
    run.tokens = sum(tokens for *_, tokens in runs)
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
