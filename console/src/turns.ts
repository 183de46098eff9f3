// What each turn of a chat cost: its execution's tokens, price and time, shown under its answer.

export interface Execution {
  id: string;
  status: string;
  usage: { requests: number; input_tokens: number; output_tokens: number; tool_calls: number };
  cost: string | number | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface Turn {
  id: string;
  summary: string;
}

export function duration(started: string | null, finished: string | null): string | null {
  if (!started || !finished) return null;
  const ms = Date.parse(finished) - Date.parse(started);
  if (!(ms >= 0)) return null;
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function money(cost: string | number | null): string | null {
  if (cost === null || cost === undefined) return null;
  const usd = Number(cost);
  if (!Number.isFinite(usd)) return null;
  return usd === 0 ? "$0" : usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`;
}

export function turnStats(executions: Execution[]): Record<string, Turn> {
  const out: Record<string, Turn> = {};
  for (const e of executions) {
    const parts = [
      `${e.usage.input_tokens.toLocaleString("en")} tokens in`,
      `${e.usage.output_tokens.toLocaleString("en")} out`,
    ];
    parts.push(money(e.cost) ?? "cost unknown");
    const took = duration(e.started_at, e.finished_at);
    if (took) parts.push(took);
    if (e.status !== "succeeded") parts.push(e.status.replace("_", " "));
    out[e.id] = { id: e.id, summary: parts.join(" · ") };
  }
  return out;
}
