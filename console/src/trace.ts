// A run's event log as a timeline of steps: each model call with its tokens, price and time,
// each tool call folded with its approval and result (and how long it took, the wait for a
// person included), and what else the run noted.

export interface TimedEvent {
  seq: number;
  type: string;
  payload: Record<string, unknown>;
  created_at?: string;
}

export interface TraceStep {
  kind: "prompt" | "model" | "tool" | "note" | "error";
  title: string;
  start: number; // ms from the run's start
  end: number;
  facts: string[];
  body?: string;
  outcome?: string;
}

const at = (e: TimedEvent | undefined, origin: number): number =>
  e?.created_at ? Math.max(0, Date.parse(e.created_at) - origin) : 0;

export function traceSteps(events: TimedEvent[], startedAt?: string | null): TraceStep[] {
  const first = events.find((e) => e.created_at)?.created_at;
  const origin = Date.parse(startedAt ?? first ?? "") || Date.parse(first ?? "") || 0;
  const steps: TraceStep[] = [];
  const byCall = (type: string, id: unknown) => events.filter((e) => e.type === type && e.payload.tool_call_id === id);
  const shown = new Set<unknown>();
  let previous: TimedEvent | undefined;
  for (const e of events) {
    const p = e.payload;
    const now = at(e, origin);
    switch (e.type) {
      case "user_message":
        steps.push({ kind: "prompt", title: "Input", start: now, end: now, facts: [], body: typeof p.content === "string" ? p.content : JSON.stringify(p.content) });
        break;
      case "model_response": {
        const facts = [`${Number(p.input_tokens ?? 0).toLocaleString("en")} in · ${Number(p.output_tokens ?? 0).toLocaleString("en")} out tokens`];
        if (typeof p.cost_usd === "string") facts.push(`$${Number(p.cost_usd)}`);
        if (p.finish_reason) facts.push(`finished: ${String(p.finish_reason)}`);
        const start = previous ? at(previous, origin) : 0;
        steps.push({ kind: "model", title: `Model call${p.model_name ? ` · ${String(p.model_name)}` : ""}`, start, end: Math.max(start, now), facts, body: p.text ? String(p.text) : undefined });
        break;
      }
      case "tool_call": {
        if (shown.has(p.tool_call_id)) break;
        shown.add(p.tool_call_id);
        const asked = byCall("approval_requested", p.tool_call_id)[0];
        const decided = byCall("approval_decided", p.tool_call_id).at(-1);
        const result = byCall("tool_result", p.tool_call_id).at(-1);
        const facts = [`args ${JSON.stringify(p.args)}`];
        if (asked) facts.push(decided ? `${decided.payload.approved ? "approved" : "denied"}${decided.payload.reason ? `: ${String(decided.payload.reason)}` : ""}` : "waiting for approval");
        steps.push({
          kind: "tool",
          title: `Tool · ${String(p.tool_name)}`,
          start: now,
          end: result ? at(result, origin) : now,
          facts,
          body: result ? String(result.payload.content ?? "") : undefined,
          outcome: result ? String(result.payload.outcome) : asked && !decided ? "waiting" : undefined,
        });
        break;
      }
      case "tool_result":
        if (!events.some((c) => c.type === "tool_call" && c.payload.tool_call_id === p.tool_call_id)) {
          steps.push({ kind: "tool", title: `Tool · ${String(p.tool_name ?? "")}`, start: now, end: now, facts: [], body: String(p.content ?? ""), outcome: String(p.outcome) });
        }
        break;
      case "context_summarized":
        steps.push({ kind: "note", title: "Older turns summarized", start: now, end: now, facts: [] });
        break;
      case "memory_extracted":
        steps.push({ kind: "note", title: "Memories saved", start: now, end: now, facts: [] });
        break;
      case "mcp_server_skipped":
      case "a2a_agent_skipped": {
        const what = e.type === "mcp_server_skipped" ? `MCP server skipped · ${String(p.server ?? "")}` : `A2A agent skipped · ${String(p.agent ?? "")}`;
        steps.push({ kind: "note", title: what, start: now, end: now, facts: [String(p.message ?? "")].filter(Boolean) });
        break;
      }
      case "status":
        steps.push({ kind: "note", title: `Status · ${String(p.status)}`, start: now, end: now, facts: [] });
        break;
      case "error":
        steps.push({ kind: "error", title: "Error", start: now, end: now, facts: [], body: String(p.message ?? JSON.stringify(p)) });
        break;
    }
    if (!["approval_requested", "approval_decided"].includes(e.type)) previous = e;
  }
  return steps;
}

export function span(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
