// API keys, credentials, usage against the budget, and (admins) users and their limits.
import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Alert, Field, Page, useLoad, when, type PageOf } from "../ui";
import { CopyButton } from "../Markdown";

interface Key {
  id: string;
  name: string;
  scope: string;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export function ApiKeys() {
  const keys = useLoad(() => api.get<PageOf<Key>>("/api-keys?limit=100"), []);
  const [name, setName] = useState("");
  const [scope, setScope] = useState("execute");
  const [made, setMade] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function create(event: Event) {
    event.preventDefault();
    setError(null);
    try {
      const key = await api.request<{ key: string }>("POST", "/api-keys", { name, scope });
      setMade(key.key);
      setName("");
      keys.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }
  async function revoke(id: string) {
    try {
      await api.request("DELETE", `/api-keys/${id}`);
      keys.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <Page title="API keys">
      <form onSubmit={create} class="card row">
        <Field label="Name" id="key-name"><input id="key-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></Field>
        <Field label="Scope" id="key-scope">
          <select id="key-scope" value={scope} onChange={(e) => setScope(e.currentTarget.value)}>
            <option value="read">read</option><option value="execute">execute</option><option value="full">full</option>
          </select>
        </Field>
        <button type="submit">Create key</button>
      </form>
      {made && (
        <div class="card" role="status">
          <p>Your new key, shown this once: copy it now.</p>
          <code class="secret">{made}</code>
          <CopyButton text={made} label="Copy the key" />
        </div>
      )}
      <Alert message={error ?? keys.error} />
      <ul>
        {keys.data?.items.map((k) => (
          <li key={k.id}>
            <strong>{k.name}</strong> · ak_{k.prefix}_… · {k.scope} · made {when(k.created_at)} · last used {when(k.last_used_at)}{" "}
            <button type="button" class="link" onClick={() => revoke(k.id)}>Revoke {k.name}</button>
          </li>
        ))}
      </ul>
    </Page>
  );
}

interface Credential {
  id: string;
  name: string;
  allowed_hosts: string[];
  created_at: string;
  last_used_at: string | null;
  notice: string | null;
  sent_to: { agent_id: string; agent_name: string; host: string; last_sent_at: string }[];
}

/** "api.github.com, *.example.com" or one per line → the list the API takes. */
export function hostList(text: string): string[] {
  return text.split(/[\s,]+/).map((h) => h.trim()).filter(Boolean);
}

function CredentialItem({ credential, reload, onError }: { credential: Credential; reload: () => void; onError: (e: unknown) => void }) {
  const [editing, setEditing] = useState(false);
  const [hosts, setHosts] = useState(credential.allowed_hosts.join(", "));
  const id = `hosts-${credential.id}`;
  async function save(event: Event) {
    event.preventDefault();
    try {
      await api.request("PATCH", `/credentials/${credential.id}`, { allowed_hosts: hostList(hosts) });
      setEditing(false);
      reload();
    } catch (e) {
      onError(e);
    }
  }
  return (
    <li>
      <strong>{credential.name}</strong> · saved {when(credential.created_at)} · sent only to{" "}
      {credential.allowed_hosts.length ? credential.allowed_hosts.join(", ") : <em>no host yet</em>}{" "}
      <button type="button" class="link" onClick={() => setEditing(!editing)}>Hosts of {credential.name}</button>{" "}
      <button type="button" class="link" onClick={() => api.request("DELETE", `/credentials/${credential.id}`).then(reload, onError)}>Delete {credential.name}</button>
      {credential.notice && <p class="alert" role="note">{credential.notice}</p>}
      {editing && (
        <form onSubmit={save} class="row">
          <Field label={`Hosts ${credential.name} may be sent to`} id={id}>
            <input id={id} required value={hosts} onInput={(e) => setHosts(e.currentTarget.value)} />
          </Field>
          <button type="submit">Save hosts</button>
        </form>
      )}
      {credential.sent_to.length > 0 && (
        <ul aria-label={`Where ${credential.name} was sent`}>
          {credential.sent_to.map((s) => (
            <li key={`${s.agent_id}-${s.host}`}>to {s.host} by {s.agent_name}, {when(s.last_sent_at)}</li>
          ))}
        </ul>
      )}
    </li>
  );
}

export function Credentials() {
  const list = useLoad(() => api.get<PageOf<Credential>>("/credentials?limit=100"), []);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [hosts, setHosts] = useState("");
  const [error, setError] = useState<string | null>(null);
  async function create(event: Event) {
    event.preventDefault();
    setError(null);
    try {
      await api.request("POST", "/credentials", { name, value, allowed_hosts: hostList(hosts) });
      setName("");
      setValue("");
      setHosts("");
      list.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <Page title="Credentials">
      <p>Secrets your agents' MCP servers use by name; their values are never shown again. Each goes only to the hosts you name here, whoever's agent asks for it.</p>
      <form onSubmit={create} class="card row">
        <Field label="Name" id="cred-name"><input id="cred-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></Field>
        <Field label="Value" id="cred-value"><input id="cred-value" type="password" autoComplete="off" required value={value} onInput={(e) => setValue(e.currentTarget.value)} /></Field>
        <Field label="Sent only to hosts" id="cred-hosts" hint="e.g. api.github.com, *.example.com">
          <input id="cred-hosts" required value={hosts} onInput={(e) => setHosts(e.currentTarget.value)} />
        </Field>
        <button type="submit">Save credential</button>
      </form>
      <Alert message={error ?? list.error} />
      <ul>
        {list.data?.items.map((c) => (
          <CredentialItem key={c.id} credential={c} reload={list.reload} onError={(e) => setError(describeError(e))} />
        ))}
      </ul>
    </Page>
  );
}

interface UsageDay {
  date: string;
  executions: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: string;
}
interface Report {
  days: UsageDay[];
  limits: { max_concurrent_runs: number; daily_tokens: number | null; daily_cost_usd: string | null; active_runs: number };
}

/** Tokens per day as bars, the daily budget as a line: plain SVG (no chart library). */
export function UsageChart({ days, budget }: { days: UsageDay[]; budget: number | null }) {
  const width = 600;
  const height = 160;
  const used = days.map((d) => d.input_tokens + d.output_tokens);
  const top = Math.max(1, budget ?? 0, ...used);
  const bar = width / Math.max(1, days.length);
  const y = (v: number) => height - (v / top) * height;
  return (
    <svg viewBox={`0 -12 ${width} ${height + 32}`} role="img" class="chart"
      aria-label={`Tokens per day over ${days.length} days${budget ? `, against a budget of ${budget} a day` : ""}`}>
      {used.map((v, i) => (
        <rect key={days[i].date} x={i * bar + 1} y={y(v)} width={Math.max(1, bar - 2)} height={height - y(v)} class="bar">
          <title>{`${days[i].date}: ${v} tokens, ${days[i].executions} runs, $${days[i].cost_usd}`}</title>
        </rect>
      ))}
      {budget !== null && <line x1="0" x2={width} y1={y(budget)} y2={y(budget)} class="budget" />}
      {budget !== null && <text x={width} y={y(budget) - 4} text-anchor="end" class="axis">daily budget {budget}</text>}
      <text x="0" y={height + 16} class="axis">{days[0]?.date}</text>
      <text x={width} y={height + 16} text-anchor="end" class="axis">{days.at(-1)?.date}</text>
    </svg>
  );
}

export function Usage() {
  const [days, setDays] = useState(30);
  const report = useLoad(() => api.get<Report>(`/users/me/usage?days=${days}`), [days]);
  const r = report.data;
  const today = r?.days.at(-1);
  return (
    <Page title="Usage">
      <label for="usage-days">Days </label>
      <select id="usage-days" value={days} onChange={(e) => setDays(Number(e.currentTarget.value))}>
        {[7, 30, 90, 366].map((d) => <option key={d} value={d}>{d}</option>)}
      </select>
      <Alert message={report.error} />
      {r && (
        <>
          <UsageChart days={r.days} budget={r.limits.daily_tokens} />
          <dl class="facts">
            <dt>Today</dt><dd>{today ? today.input_tokens + today.output_tokens : 0} tokens of {r.limits.daily_tokens ?? "unlimited"}; ${today?.cost_usd ?? 0} of {r.limits.daily_cost_usd ?? "unlimited"}</dd>
            <dt>Runs at once</dt><dd>{r.limits.active_runs} of {r.limits.max_concurrent_runs}</dd>
          </dl>
        </>
      )}
    </Page>
  );
}

interface User {
  id: string;
  username: string;
  email: string;
  role: string;
  is_active: boolean;
}

export function AdminUsers() {
  const users = useLoad(() => api.get<PageOf<User>>("/users?limit=100"), []);
  const [picked, setPicked] = useState<string>("");
  const [runs, setRuns] = useState("");
  const [tokens, setTokens] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  async function save(event: Event) {
    event.preventDefault();
    setError(null);
    const limits: Record<string, number> = {};
    if (runs) limits.max_concurrent_runs = Number(runs);
    if (tokens) limits.daily_tokens = Number(tokens);
    try {
      await api.request("PATCH", `/users/${picked}`, { limits });
      setNote("Limits saved.");
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <Page title="Users">
      <Alert message={error ?? users.error} />
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Table">
        <table>
          <caption class="sr-only">Users</caption>
          <thead><tr><th scope="col">Username</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Active</th></tr></thead>
          <tbody>
            {users.data?.items.map((u) => (
              <tr key={u.id}><td>{u.username}</td><td>{u.email}</td><td>{u.role}</td><td>{u.is_active ? "yes" : "no"}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
      <form onSubmit={save} class="card">
        <h2>Limits of a user</h2>
        <Field label="User" id="limits-user">
          <select id="limits-user" required value={picked} onChange={(e) => setPicked(e.currentTarget.value)}>
            <option value="">—</option>
            {users.data?.items.map((u) => <option key={u.id} value={u.id}>{u.username}</option>)}
          </select>
        </Field>
        <Field label="Runs at once" id="limits-runs" hint="empty: the service's default">
          <input id="limits-runs" inputMode="numeric" value={runs} onInput={(e) => setRuns(e.currentTarget.value)} />
        </Field>
        <Field label="Tokens a day" id="limits-tokens" hint="empty: the service's default">
          <input id="limits-tokens" inputMode="numeric" value={tokens} onInput={(e) => setTokens(e.currentTarget.value)} />
        </Field>
        <button type="submit">Save limits</button>
        <p role="status">{note}</p>
      </form>
    </Page>
  );
}
