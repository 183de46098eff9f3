// An agent's evals (its owner and editors): eval sets with their cases edited row by row, a run
// with live progress, the report (each case's verdict and reasons, its execution a link), two
// runs compared case by case, and the pass rate across versions.
import { useEffect, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Alert, Field, useLoad, when, type PageOf } from "../ui";

interface Case {
  name: string;
  input: unknown;
  expected?: unknown;
}
interface EvalSet {
  id: string;
  name: string;
  version: number;
  cases: Case[];
  evaluators: Record<string, unknown>[];
}
interface CaseResult {
  name: string;
  input: unknown;
  repeat_index: number;
  execution_id: string | null;
  passed: boolean | null;
  scores: Record<string, unknown>;
  reasons: Record<string, string>;
}
export interface EvalReport {
  id: string;
  status: string;
  agent_version: string;
  eval_set_version: number;
  pass_rate: number | null;
  done: number;
  total: number;
  cost_usd: string | null;
  tokens: number;
  latency_ms: { p50: number | null; p95: number | null };
  cases: CaseResult[];
  created_at: string;
}
interface EvalItem {
  id: string;
  eval_set_id: string;
  agent_version: string;
  status: string;
  pass_rate: number | null;
  created_at: string;
}
interface Comparison {
  better: { name: string }[];
  worse: { name: string }[];
  same: number;
  pass_rate_change: number | null;
}

const DEFAULT_EVALUATORS = '[{"type": "contains"}]';
const ENDED = ["succeeded", "failed", "cancelled"];

function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "–" : `${Math.round(rate * 100)}%`;
}

function text(value: unknown): string {
  return value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
}

export function Evals({ agentId }: { agentId: string }) {
  const sets = useLoad(() => api.get<PageOf<EvalSet>>(`/agents/${agentId}/eval-sets?limit=50`), [agentId]);
  const [editing, setEditing] = useState<EvalSet | "new" | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <details>
      <summary><h2>Evals</h2></summary>
      <Alert message={sets.error} />
      <ul aria-label="Eval sets">
        {sets.data?.items.map((s) => (
          <li key={s.id}>
            <button type="button" class="link" aria-expanded={open === s.id} onClick={() => setOpen(open === s.id ? null : s.id)}>
              {s.name}
            </button>{" "}
            <span class="muted">{s.cases.length} cases · version {s.version}</span>{" "}
            <button type="button" class="secondary small" onClick={() => setEditing(s)}>Edit cases<span class="sr-only"> of {s.name}</span></button>
          </li>
        ))}
      </ul>
      {editing === null ? (
        <button type="button" class="secondary" onClick={() => setEditing("new")}>New eval set</button>
      ) : (
        <SetEditor agentId={agentId} set={editing === "new" ? null : editing}
          onDone={(saved) => { setEditing(null); if (saved) { setOpen(saved.id); sets.reload(); } }} />
      )}
      {open && sets.data?.items.find((s) => s.id === open) && (
        <SetRuns agentId={agentId} set={sets.data.items.find((s) => s.id === open)!} />
      )}
    </details>
  );
}

function SetEditor({ agentId, set, onDone }: { agentId: string; set: EvalSet | null; onDone: (saved: EvalSet | null) => void }) {
  const [name, setName] = useState(set?.name ?? "");
  const [rows, setRows] = useState<{ name: string; input: string; expected: string }[]>(
    set ? set.cases.map((c) => ({ name: c.name, input: text(c.input), expected: text(c.expected) })) : [{ name: "case 1", input: "", expected: "" }],
  );
  const [evaluators, setEvaluators] = useState(set ? JSON.stringify(set.evaluators) : DEFAULT_EVALUATORS);
  const [error, setError] = useState<string | null>(null);

  function change(index: number, field: "name" | "input" | "expected", value: string) {
    setRows(rows.map((row, i) => (i === index ? { ...row, [field]: value } : row)));
  }
  async function save(event: Event) {
    event.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(evaluators);
    } catch {
      setError("Evaluators: not JSON (a list like [{\"type\": \"contains\"}]).");
      return;
    }
    const cases = rows.map((r) => ({ name: r.name.trim(), input: r.input, ...(r.expected ? { expected: r.expected } : {}) }));
    const body = { name: name.trim(), cases, evaluators: parsed };
    try {
      const saved = set
        ? await api.request<EvalSet>("PATCH", `/eval-sets/${set.id}`, body)
        : await api.request<EvalSet>("POST", `/agents/${agentId}/eval-sets`, body);
      onDone(saved);
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <form onSubmit={save} aria-label={set ? `Edit ${set.name}` : "New eval set"}>
      <Alert message={error} />
      <Field label="Set name" id="eval-set-name"><input id="eval-set-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required /></Field>
      <table>
        <caption class="sr-only">Cases</caption>
        <thead><tr><th scope="col">Case</th><th scope="col">Input</th><th scope="col">Expected</th><th scope="col"><span class="sr-only">Remove</span></th></tr></thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>
              <td><input aria-label={`Case ${i + 1} name`} value={row.name} onInput={(e) => change(i, "name", e.currentTarget.value)} /></td>
              <td><textarea aria-label={`Case ${i + 1} input`} rows={2} value={row.input} onInput={(e) => change(i, "input", e.currentTarget.value)} /></td>
              <td><input aria-label={`Case ${i + 1} expected`} value={row.expected} onInput={(e) => change(i, "expected", e.currentTarget.value)} /></td>
              <td><button type="button" class="link" aria-label={`Remove case ${i + 1}`} onClick={() => setRows(rows.filter((_, j) => j !== i))}>Remove</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" class="secondary small" onClick={() => setRows([...rows, { name: `case ${rows.length + 1}`, input: "", expected: "" }])}>Add a case</button>
      <Field label="Evaluators (JSON)" id="eval-evaluators">
        <textarea id="eval-evaluators" rows={3} value={evaluators} onInput={(e) => setEvaluators(e.currentTarget.value)} />
      </Field>
      <p class="muted">Types: equals, contains, regex, json_schema, tool_called, tool_not_called, max_cost_usd, max_latency_ms, llm_judge.</p>
      <div class="row">
        <button type="submit">{set ? "Save eval set (a new version)" : "Create eval set"}</button>
        <button type="button" class="secondary" onClick={() => onDone(null)}>Cancel</button>
      </div>
    </form>
  );
}

function SetRuns({ agentId, set }: { agentId: string; set: EvalSet }) {
  const runs = useLoad(() => api.get<PageOf<EvalItem>>(`/agents/${agentId}/evals?eval_set_id=${set.id}&limit=50`), [agentId, set.id]);
  const [current, setCurrent] = useState<string | null>(null);
  const [pair, setPair] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);

  async function start() {
    setError(null);
    try {
      const started = await api.request<EvalReport>("POST", `/agents/${agentId}/evals`, { eval_set_id: set.id });
      setCurrent(started.id);
      runs.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }
  const items = runs.data?.items ?? [];
  const trend = [...items].reverse().filter((r) => r.pass_rate !== null);
  return (
    <section aria-label={`Evals of ${set.name}`}>
      <h3>{set.name}</h3>
      <Alert message={error ?? runs.error} />
      <button type="button" onClick={start}>Run eval<span class="sr-only"> of {set.name}</span></button>
      {trend.length > 0 && (
        <figure>
          <figcaption>Pass rate by version</figcaption>
          <ol class="trend" aria-label="Pass rate by version">
            {trend.map((r) => (
              <li key={r.id}>
                <span class="trend-bar" style={{ width: `${Math.max(1, (r.pass_rate ?? 0) * 60)}%` }} />
                <span>{r.agent_version}: {percent(r.pass_rate)}</span>
              </li>
            ))}
          </ol>
        </figure>
      )}
      <table>
        <caption>Runs (pick two to compare)</caption>
        <thead><tr><th scope="col">Compare</th><th scope="col">Started</th><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Pass rate</th></tr></thead>
        <tbody>
          {items.map((r) => (
            <tr key={r.id}>
              <td><input type="checkbox" aria-label={`Compare the run of ${r.agent_version} started ${when(r.created_at)}`} checked={pair.includes(r.id)}
                onChange={(e) => setPair(e.currentTarget.checked ? [...pair.filter((p) => p !== r.id), r.id].slice(-2) : pair.filter((p) => p !== r.id))} /></td>
              <td><button type="button" class="link" onClick={() => setCurrent(r.id)}>{when(r.created_at)}</button></td>
              <td>{r.agent_version}</td>
              <td>{r.status}</td>
              <td>{percent(r.pass_rate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {pair.length === 2 && <Compare {...olderFirst(pair, items)} />}
      {current && <Report key={current} evalId={current} agentId={agentId} onEnded={runs.reload} />}
    </section>
  );
}

/** The two picked runs, the older one the base: the comparison says what the newer changed. */
function olderFirst(pair: string[], items: EvalItem[]): { base: string; other: string } {
  const at = (id: string) => items.find((r) => r.id === id)?.created_at ?? "";
  const [a, b] = [...pair].sort((x, y) => at(x).localeCompare(at(y)));
  return { base: a!, other: b! };
}

/** One run's report, read again every second until it ends (the live progress). */
export function Report({ evalId, agentId, onEnded }: { evalId: string; agentId: string; onEnded?: () => void }) {
  const [report, setReport] = useState<EvalReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    async function look() {
      try {
        const got = await api.get<EvalReport>(`/evals/${evalId}`);
        if (!live) return;
        setReport(got);
        if (ENDED.includes(got.status)) onEnded?.();
        else timer = setTimeout(look, 1000);
      } catch (e) {
        if (live) setError(describeError(e));
      }
    }
    look();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [evalId]);
  /** A case again, on the agent as it is now: its run opens as any other. */
  async function replay(input: unknown) {
    try {
      const run = await api.request<{ id: string }>("POST", `/agents/${agentId}/execute`, { input, mode: "async" });
      location.hash = `#/executions/${run.id}`;
    } catch (e) {
      setError(describeError(e));
    }
  }
  if (!report) return <Alert message={error} />;
  return (
    <section aria-label="Eval report">
      <h3>Report · version {report.agent_version}</h3>
      <Alert message={error} />
      <p role="status">
        {report.status} · {report.done} of {report.total} scored · pass rate {percent(report.pass_rate)}
      </p>
      <progress max={report.total} value={report.done} aria-label="Cases scored" />
      <p class="muted">
        cost {report.cost_usd === null ? "unknown" : `$${Number(report.cost_usd)}`} · {report.tokens} tokens · latency p50{" "}
        {report.latency_ms.p50 === null ? "–" : `${Math.round(report.latency_ms.p50)} ms`} · p95{" "}
        {report.latency_ms.p95 === null ? "–" : `${Math.round(report.latency_ms.p95)} ms`}
      </p>
      <table>
        <caption class="sr-only">Cases</caption>
        <thead><tr><th scope="col">Case</th><th scope="col">Verdict</th><th scope="col">Why</th><th scope="col">Run</th></tr></thead>
        <tbody>
          {report.cases.map((c) => (
            <tr key={`${c.name}-${c.repeat_index}`}>
              <td>{c.name}{c.repeat_index ? ` (#${c.repeat_index + 1})` : ""}</td>
              <td>{c.passed === null ? "pending" : c.passed ? "passed" : "failed"}</td>
              <td>{Object.entries(c.reasons).map(([k, v]) => `${k}: ${v}`).join("; ")}</td>
              <td>
                {c.execution_id ? <a href={`#/executions/${c.execution_id}`}>open<span class="sr-only"> the run of {c.name}</span></a> : ""}{" "}
                <button type="button" class="link" onClick={() => replay(c.input)}>run again<span class="sr-only"> {c.name}</span></button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Compare({ base, other }: { base: string; other: string }) {
  const compared = useLoad(() => api.get<Comparison>(`/evals/${base}/compare/${other}`), [base, other]);
  if (!compared.data) return <Alert message={compared.error} />;
  const c = compared.data;
  return (
    <section aria-label="Comparison">
      <h3>Compared</h3>
      <p>
        pass rate {c.pass_rate_change === null ? "–" : `${c.pass_rate_change >= 0 ? "+" : ""}${Math.round(c.pass_rate_change * 100)} points`} ·{" "}
        {c.better.length} better · {c.worse.length} worse · {c.same} the same
      </p>
      <div class="row">
        <div><h4>Better</h4><ul aria-label="Better">{c.better.map((x) => <li key={x.name}>{x.name}</li>)}</ul></div>
        <div><h4>Worse</h4><ul aria-label="Worse">{c.worse.map((x) => <li key={x.name}>{x.name}</li>)}</ul></div>
      </div>
    </section>
  );
}
