"""Quotas, in one place: each user's concurrent runs, the day's tokens and the day's cost.

Per-user overrides live in users.limits; the service's defaults (USER_MAX_CONCURRENT_RUNS,
USER_DAILY_TOKENS, USER_DAILY_COST_USD) reach the database as the session settings agents.* that
core.db.engine sets on each new connection.

Why triggers hold the counts: a run's slot must be taken by the row actually inserted and given
back by the update that ends it, whoever writes it (a start, a worker, the sweeper, a cancel, an
expired approval), in the same transaction, with parallel starts of one user queued on that
user's row. A trigger is the one place every such write passes; Python beside each writer would
be five copies racing each other. So the SQL below is the rule, and this module owns it:
- `take_run_slot` (AFTER INSERT of a top-level unfinished run) refuses with SQLSTATE AQ001 when
  the user is at their concurrent runs or has spent the day's tokens or cost, and counts the run;
- `hold_run_slot` gives the slot back while a run waits for a person, and takes it again when the
  run goes on;
- `count_usage` adds an ended run to usage_days and gives its slot back;
- `daily_tokens_left`, `daily_cost_left`: what a run may still spend today (null: no limit).
A change here needs a migration holding the new bodies (as 0021 does);
tests/integration/test_quotas.py checks that a freshly migrated database holds exactly these.

In Python: the 429 a refusal answers (`quota_refusal`) and a run's cost limit under a budget
(`cost_limit_of`, `unpriced_refusal`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.agents.pricing import unpriced_models
from core.agents.usage import Usage
from core.definition import AgentDefinition
from core.errors import LimitReached, field_error

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

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


QUOTA_SQLSTATE = "AQ001"  # raised by take_run_slot (below)
BUSY_RETRY_S = 10


def quota_refusal(exc: DBAPIError, now: datetime) -> LimitReached | None:
    """The 429 a start refused by a quota answers (None: another database error). The limit
    is named; Retry-After is a guess for concurrent runs, the next UTC midnight for a day's."""
    error = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    if not isinstance(error, dict) or error.get("C") != QUOTA_SQLSTATE:
        return None
    limit, _, value = str(error.get("M", "")).partition(" ")
    if limit == "max_concurrent_runs":
        message = f"you have {value} runs unfinished, your limit; wait for one to end"
        retry_s = BUSY_RETRY_S
    else:
        message = (
            f"you have used today's {limit.replace('_', ' ')} ({value}); it resets at 00:00 UTC"
        )
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
        retry_s = max(1, int((midnight - now).total_seconds()))
    return LimitReached(
        message,
        code="quota_exceeded",
        details=[field_error(["quota", limit], message, "quota_exceeded")],
        retry_after_s=retry_s,
    )


def _limit(limits: str, name: str, kind: str) -> str:
    """SQL for one of a user's limits: their own override (`limits`, a users.limits value), else
    the service's default (the session setting agents.<name>), else none (NULL)."""
    return (
        f"coalesce(({limits}->>'{name}')::{kind}, "
        f"nullif(current_setting('agents.{name}', true), '')::{kind})"
    )


def _daily_left(name: str, kind: str, used: str) -> str:
    """plpgsql for what is left today of a daily limit (NULL: no limit), `used` being the
    usage_days expression it counts against."""
    return f"""
        DECLARE
            budget {kind};
            spent {kind};
        BEGIN
            SELECT {_limit("limits", name, kind)} INTO budget FROM users WHERE id = uid;
            IF budget IS NULL THEN
                RETURN NULL;
            END IF;
            SELECT {used} INTO spent FROM usage_days
            WHERE user_id = uid AND day = (now() AT TIME ZONE 'UTC')::date;
            RETURN greatest(0, budget - coalesce(spent, 0));
        END
        """  # noqa: S608 (module constants, no input)


# name(arguments) -> (returns, language, volatility, body)
FUNCTIONS: dict[str, tuple[str, str, str, str]] = {
    "take_run_slot()": (
        "trigger",
        "plpgsql",
        "",
        f"""
        DECLARE
            lim jsonb;
            used record;
            max_runs int;
            max_tokens bigint;
            max_cost numeric;
        BEGIN
            SELECT limits INTO lim FROM users WHERE id = NEW.user_id;
            max_runs := {_limit("lim", "max_concurrent_runs", "int")};
            max_tokens := {_limit("lim", "daily_tokens", "bigint")};
            max_cost := {_limit("lim", "daily_cost_usd", "numeric")};
            IF max_tokens IS NOT NULL OR max_cost IS NOT NULL THEN
                SELECT input_tokens + output_tokens AS tokens, cost_usd INTO used
                FROM usage_days
                WHERE user_id = NEW.user_id AND day = (now() AT TIME ZONE 'UTC')::date;
                IF max_tokens IS NOT NULL AND coalesce(used.tokens, 0) >= max_tokens THEN
                    RAISE EXCEPTION 'daily_tokens %', max_tokens USING ERRCODE = '{QUOTA_SQLSTATE}';
                END IF;
                IF max_cost IS NOT NULL AND coalesce(used.cost_usd, 0) >= max_cost THEN
                    RAISE EXCEPTION 'daily_cost_usd %', max_cost USING ERRCODE = '{QUOTA_SQLSTATE}';
                END IF;
            END IF;
            UPDATE users SET active_runs = active_runs + 1
            WHERE id = NEW.user_id AND (max_runs IS NULL OR active_runs < max_runs);
            IF NOT FOUND THEN
                RAISE EXCEPTION 'max_concurrent_runs %', max_runs
                    USING ERRCODE = '{QUOTA_SQLSTATE}';
            END IF;
            RETURN NULL;
        END
        """,  # noqa: S608 (module constants, no input)
    ),
    "hold_run_slot()": (
        "trigger",
        "plpgsql",
        "",
        """
        BEGIN
            IF NEW.status = 'waiting_approval' THEN
                UPDATE users SET active_runs = greatest(active_runs - 1, 0)
                WHERE id = NEW.user_id;
            ELSE
                UPDATE users SET active_runs = active_runs + 1 WHERE id = NEW.user_id;
            END IF;
            RETURN NULL;
        END
        """,
    ),
    "count_usage()": (
        "trigger",
        "plpgsql",
        "",
        """
        BEGIN
            INSERT INTO usage_days AS u
                (user_id, day, executions, input_tokens, output_tokens, cost_usd)
            VALUES (NEW.user_id, (coalesce(NEW.finished_at, now()) AT TIME ZONE 'UTC')::date, 1,
                    NEW.input_tokens, NEW.output_tokens, coalesce(NEW.cost, 0))
            ON CONFLICT (user_id, day) DO UPDATE SET
                executions = u.executions + 1,
                input_tokens = u.input_tokens + EXCLUDED.input_tokens,
                output_tokens = u.output_tokens + EXCLUDED.output_tokens,
                cost_usd = u.cost_usd + EXCLUDED.cost_usd;
            IF OLD.status <> 'waiting_approval' THEN
                UPDATE users SET active_runs = greatest(active_runs - 1, 0) WHERE id = NEW.user_id;
            END IF;
            RETURN NULL;
        END
        """,
    ),
    # plpgsql, not sql: a SQL function that reads a table is planned again at every call (it
    # cannot be inlined), where plpgsql keeps its plans for the connection; and no budget (the
    # usual case) answers without reading usage_days
    "daily_tokens_left(uid uuid)": (
        "bigint",
        "plpgsql",
        "STABLE",
        _daily_left("daily_tokens", "bigint", "input_tokens + output_tokens"),
    ),
    "daily_cost_left(uid uuid)": (
        "numeric",
        "plpgsql",
        "STABLE",
        _daily_left("daily_cost_usd", "numeric", "cost_usd"),
    ),
}


def count_late_usage(db: Any, *, execution_id: Any, usage: Usage) -> None:
    """Usage spent for a run after it ended (the memories drawn from a turn): added to the run's
    own columns and to its user's day, as `count_usage` counted the rest (not as another run)."""
    from sqlalchemy import text

    db.execute(
        text(
            "WITH run AS (UPDATE agent_executions SET requests = requests + :requests, "
            "input_tokens = input_tokens + :input, output_tokens = output_tokens + :output, "
            "cost = CASE WHEN CAST(:cost AS numeric) IS NULL THEN cost "
            "ELSE coalesce(cost, 0) + CAST(:cost AS numeric) END "
            "WHERE id = :id RETURNING user_id, finished_at) "
            "INSERT INTO usage_days AS u "
            "(user_id, day, executions, input_tokens, output_tokens, cost_usd) "
            "SELECT user_id, (coalesce(finished_at, now()) AT TIME ZONE 'UTC')::date, 0, "
            ":input, :output, coalesce(CAST(:cost AS numeric), 0) FROM run "
            "ON CONFLICT (user_id, day) DO UPDATE SET "
            "input_tokens = u.input_tokens + EXCLUDED.input_tokens, "
            "output_tokens = u.output_tokens + EXCLUDED.output_tokens, "
            "cost_usd = u.cost_usd + EXCLUDED.cost_usd"
        ),
        {
            "id": execution_id,
            "requests": usage.requests,
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cost": usage.cost,
        },
    )
