import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Alert, Page, useLoad, when, type PageOf } from "../ui";
import type { RunEvent } from "./Chat";

interface Execution {
  id: string;
  agent_id: string;
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
          <thead><tr><th scope="col">Started</th><th scope="col">Status</th><th scope="col">Trigger</th><th scope="col">Tokens</th><th scope="col">Cost (USD)</th></tr></thead>
          <tbody>
            {runs.data?.items.map((r) => (
              <tr key={r.id}>
                <td><a href={`#/executions/${r.id}`}>{when(r.created_at)}</a></td>
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

export function ExecutionDetail({ id }: { id: string }) {
  const run = useLoad(() => api.get<Execution>(`/executions/${id}`), [id]);
  const events = useLoad(() => api.get<PageOf<RunEvent>>(`/executions/${id}/events?limit=100`), [id]);
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
  return (
    <Page title="Execution">
      <Alert message={run.error ?? error} />
      {r && (
        <dl class="facts">
          <dt>Status</dt><dd>{r.status}</dd>
          <dt>Mode</dt><dd>{r.mode} ({r.trigger})</dd>
          <dt>Agent</dt><dd><a href={`#/agents/${r.agent_id}`}>{r.agent_id}</a></dd>
          {r.session_id && <><dt>Chat</dt><dd><a href={`#/sessions/${r.session_id}`}>{r.session_id}</a></dd></>}
          <dt>Usage</dt><dd>{r.usage.requests} requests, {r.usage.input_tokens} in / {r.usage.output_tokens} out tokens, {r.usage.tool_calls} tool calls</dd>
          <dt>Cost</dt><dd>{r.cost ?? "not priced"}</dd>
          <dt>Trace id</dt><dd><code>{r.trace_id ?? "—"}</code></dd>
          <dt>Started</dt><dd>{when(r.created_at)}</dd>
          <dt>Finished</dt><dd>{when(r.finished_at)}</dd>
          {r.error && <><dt>Error</dt><dd>{r.error.code}: {r.error.message}</dd></>}
        </dl>
      )}
      {r && LIVE.includes(r.status) && <button type="button" onClick={cancel}>Cancel</button>}
      <h2>Event log</h2>
      <ol class="events">
        {events.data?.items.map((e) => (
          <li key={e.seq}><strong>{e.seq}. {e.type}</strong> <code>{JSON.stringify(e.payload)}</code></li>
        ))}
      </ol>
    </Page>
  );
}
