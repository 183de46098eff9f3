import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Markdown } from "../Markdown";
import { useAgentNames } from "../names";
import { span, traceSteps } from "../trace";
import { duration, money } from "../turns";
import { Alert, Page, useLoad, when, type PageOf } from "../ui";
import type { RunEvent } from "./Chat";

interface Execution {
  id: string;
  agent_id: string;
  agent_version: string;
  started_at: string | null;
  session_id: string | null;
  status: string;
  mode: string;
  trigger: string;
  usage: { requests: number; input_tokens: number; output_tokens: number; tool_calls: number };
  cost: string | null;
  trace_id: string | null;
  error: { code: string; message: string } | null;
  output: unknown;
  created_at: string;
  finished_at: string | null;
}

const LIVE = ["queued", "running", "waiting_approval"];

export function Executions() {
  const [status, setStatus] = useState("");
  const names = useAgentNames();
  const runs = useLoad(() => api.get<PageOf<Execution>>(`/executions?limit=50${status ? `&status=${status}` : ""}`), [status]);
  return (
    <Page title="Executions">
      <label for="status-filter">Status </label>
      <select id="status-filter" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
        <option value="">any</option>
        {["queued", "running", "waiting_approval", "succeeded", "failed", "cancelled"].map((s) => <option key={s} value={s}>{s}</option>)}
      </select>
      <Alert message={runs.error} />
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Table">
        <table>
          <caption class="sr-only">Your executions, newest first</caption>
          <thead><tr><th scope="col">Started</th><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Trigger</th><th scope="col">Tokens</th><th scope="col">Cost (USD)</th></tr></thead>
          <tbody>
            {runs.data?.items.map((r) => (
              <tr key={r.id}>
                <td><a href={`#/executions/${r.id}`}>{when(r.created_at)}</a></td>
                <td>{names[r.agent_id] ?? "—"}</td>
                <td>{r.status}</td><td>{r.trigger}</td>
                <td>{r.usage.input_tokens + r.usage.output_tokens}</td><td>{r.cost ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}

async function allRunEvents(id: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  let cursor: string | null = null;
  do {
    const page: PageOf<RunEvent> = await api.get(`/executions/${id}/events?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    events.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return events;
}

export function ExecutionDetail({ id }: { id: string }) {
  const run = useLoad(() => api.get<Execution>(`/executions/${id}`), [id]);
  const events = useLoad(() => allRunEvents(id), [id]);
  const names = useAgentNames();
  const chat = useLoad(
    () => (run.data?.session_id ? api.get<{ title: string }>(`/sessions/${run.data.session_id}`) : Promise.resolve(null)),
    [run.data?.session_id],
  );
  const [error, setError] = useState<string | null>(null);
  async function cancel() {
    try {
      await api.request("POST", `/executions/${id}/cancel`);
      run.reload();
      events.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }
  const r = run.data;
  const steps = traceSteps(events.data ?? [], r?.started_at ?? r?.created_at);
  const total = Math.max(1, ...steps.map((s) => s.end), r?.finished_at && r.started_at ? Date.parse(r.finished_at) - Date.parse(r.started_at) : 0);
  return (
    <Page title={r ? `Run of ${names[r.agent_id] ?? "an agent"}` : "Run"}>
      <Alert message={run.error ?? events.error ?? error} />
      {r && (
        <dl class="facts">
          <dt>Status</dt><dd>{r.status}</dd>
          <dt>Mode</dt><dd>{r.mode} ({r.trigger})</dd>
          <dt>Agent</dt><dd><a href={`#/agents/${r.agent_id}`}>{names[r.agent_id] ?? "the agent"}</a> <small class="muted">version {r.agent_version}</small></dd>
          {r.session_id && <><dt>Chat</dt><dd><a href={`#/sessions/${r.session_id}`}>{chat.data?.title || "Untitled chat"}</a></dd></>}
          <dt>Usage</dt><dd>{r.usage.requests} model calls, {r.usage.input_tokens.toLocaleString("en")} in / {r.usage.output_tokens.toLocaleString("en")} out tokens, {r.usage.tool_calls} tool calls</dd>
          <dt>Cost</dt><dd>{money(r.cost) ?? "not priced"}</dd>
          <dt>Took</dt><dd>{duration(r.started_at, r.finished_at) ?? "—"}</dd>
          <dt>Started</dt><dd>{when(r.created_at)}</dd>
          {r.trace_id && <><dt>Trace id</dt><dd><code>{r.trace_id}</code></dd></>}
          {r.error && <><dt>Error</dt><dd>{r.error.code}: {r.error.message}</dd></>}
        </dl>
      )}
      {r && LIVE.includes(r.status) && <p><button type="button" onClick={cancel}>Cancel</button></p>}
      <h2>Steps</h2>
      <ol class="trace" aria-label="Steps">
        {steps.map((step, n) => (
          <li key={n} class={`step ${step.kind}`}>
            <div class="bar" aria-hidden="true">
              <span style={{ marginLeft: `${(step.start / total) * 100}%`, width: `${Math.max(0.5, ((step.end - step.start) / total) * 100)}%` }} />
            </div>
            <div class="step-head">
              <strong>{step.title}</strong>
              {step.outcome && <span class={`badge ${step.outcome}`}>{step.outcome}</span>}
              <span class="muted">{step.end > step.start ? span(step.end - step.start) : `at ${span(step.start)}`}</span>
              {step.facts.map((f) => <span key={f} class="muted">· {f}</span>)}
            </div>
            {step.body && (step.kind === "model" ? <details><summary>Answer</summary><Markdown text={step.body} /></details>
              : step.kind === "prompt" || step.kind === "error" ? <p class="said">{step.body}</p>
              : <details><summary>Result</summary><pre>{step.body}</pre></details>)}
          </li>
        ))}
      </ol>
      <details>
        <summary>Raw events ({events.data?.length ?? 0})</summary>
        <ol class="events">
          {events.data?.map((e) => (
            <li key={e.seq}><strong>{e.seq}. {e.type}</strong> <code>{JSON.stringify(e.payload)}</code></li>
          ))}
        </ol>
      </details>
    </Page>
  );
}
