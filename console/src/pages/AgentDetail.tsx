import { useContext, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { diffLines } from "../diff";
import { go } from "../router";
import { fieldProblems, problem, showFirst } from "../forms";
import { Alert, Field, MeContext, Page, useLoad, when, type PageOf } from "../ui";
import type { Agent } from "./Agents";
import { CopyButton } from "../Markdown";
import { DefinitionForm, type Catalog } from "./definitionForm";
import { Evals } from "./Evals";
import { Memories } from "./Memories";

interface Version {
  version: string;
  definition: Record<string, unknown>;
  change_note: string | null;
  created_at: string;
}
interface Session {
  id: string;
  title: string | null;
  status: string;
  created_at: string;
}
interface Permission {
  user_id: string;
  username: string;
  level: string;
}

export function AgentDetail({ id }: { id: string }) {
  const agent = useLoad(() => api.get<Agent>(`/agents/${id}`), [id]);
  const catalog = useLoad(() => api.get<Catalog>("/agents/catalog"), []);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const me = useContext(MeContext);
  // who may change it: its owner and admins; those it is shared with for editing (they may
  // read its sharing, which nobody else may); never an agent defined in code (a template)
  const shared = useLoad(() => api.get<Permission[]>(`/agents/${id}/permissions`), [id]);

  async function act(what: () => Promise<unknown>, done: string) {
    setError(null);
    setMessage(null);
    try {
      await what();
      setMessage(done);
      agent.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }

  if (!agent.data) return <Page title="Agent"><Alert message={agent.error} /></Page>;
  const a = agent.data;
  const inCode = a.agent_kind !== "dynamic";
  const owns = !inCode && (a.owner_id === me?.id || me?.role === "admin");
  const edits = !inCode && (owns || shared.data !== undefined);
  return (
    <Page title={a.display_name}>
      <p class="muted">{a.name} · version {a.version} · {a.scope} · {a.agent_kind}</p>
      <p role="status" class="status">{message}</p>
      <Alert message={error} />
      <Sessions agentId={id} />
      <Memories agentId={id} />
      <details open>
        <summary><h2>Definition</h2></summary>
        {edits && catalog.data ? (
          <DefinitionForm key={a.version} catalog={catalog.data} initial={a.definition} submitLabel="Save as a new version"
            onSubmit={(definition) => act(() => api.request("PATCH", `/agents/${id}`, { definition }), "Saved as a new version.")} />
        ) : (
          <>
            <p class="muted">{inCode ? "Built in: it changes with the service. Install or copy it to make your own." : "Shared with you to read or run: only its owner and editors change it."}</p>
            <pre tabIndex={0} aria-label="Its definition">{JSON.stringify(a.definition, null, 2)}</pre>
          </>
        )}
      </details>
      <Endpoints agent={a} />
      <Versions agent={a} onRollback={edits ? (version) =>
        act(() => api.request("POST", `/agents/${id}/rollback`, { version }), `Rolled back to ${version}.`) : undefined} />
      {edits && <Evals agentId={id} />}
      {owns && <Sharing agentId={id} />}
      {owns && a.owner_id === me?.id && <Publish agentId={id} />}
    </Page>
  );
}

function Sessions({ agentId }: { agentId: string }) {
  const sessions = useLoad(() => api.get<PageOf<Session>>(`/sessions?agent_id=${agentId}&limit=20`), [agentId]);
  const [error, setError] = useState<string | null>(null);
  async function start() {
    try {
      const session = await api.request<Session>("POST", "/sessions", { agent_id: agentId });
      go(`sessions/${session.id}`);
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <div class="card">
      <h2>Chats</h2>
      <button type="button" onClick={start}>New chat</button>
      <Alert message={error ?? sessions.error} />
      <ul>
        {sessions.data?.items.map((s) => (
          <li key={s.id}><a href={`#/sessions/${s.id}`}>{s.title || "Untitled chat"} · {when(s.created_at)}</a> ({s.status})</li>
        ))}
      </ul>
    </div>
  );
}

/** Where other clients reach the agent (README: "Use it from …"), each address with a copy
 * button; they authenticate with an API key of the `execute` scope (Account). */
function Endpoints({ agent }: { agent: Agent }) {
  const origin = location.origin;
  const rows: [string, string, string][] = [
    ["A2A agent card", `${origin}/a2a/agents/${agent.id}/.well-known/agent-card.json`, "A2A clients (a2a-sdk, ADK, LangGraph) read it, then send to the URL it names"],
    ["MCP server", `${origin}/mcp`, `Claude Desktop, Cursor, Gemini CLI: this agent is the tool "${agent.name}"`],
    ["OpenAI base URL", `${origin}/v1`, `the OpenAI SDK and chat front-ends: model "${agent.id}"`],
  ];
  return (
    <details>
      <summary><h2>Use it from other clients</h2></summary>
      <p class="muted">Each takes an API key with the execute scope (Account) as <code>Authorization: Bearer</code>.</p>
      <dl aria-label="Endpoints">
        {rows.map(([what, url, how]) => (
          <div key={what}>
            <dt>{what}</dt>
            <dd><code>{url}</code> <CopyButton text={url} hidden={what} /><br /><span class="muted">{how}</span></dd>
          </div>
        ))}
      </dl>
    </details>
  );
}

function Versions({ agent, onRollback }: { agent: Agent; onRollback?: (version: string) => void }) {
  const versions = useLoad(() => api.get<PageOf<Version>>(`/agents/${agent.id}/versions?limit=50`), [agent.id, agent.version]);
  const [shown, setShown] = useState<string | null>(null);
  const picked = versions.data?.items.find((v) => v.version === shown);
  return (
    <details>
      <summary><h2>Versions</h2></summary>
      <Alert message={versions.error} />
      <ul>
        {versions.data?.items.map((v) => (
          <li key={v.version}>
            v{v.version} · {when(v.created_at)} {v.change_note ? `· ${v.change_note}` : ""}{" "}
            <button type="button" class="link" onClick={() => setShown(v.version)}>Compare with current</button>{" "}
            {onRollback && v.version !== agent.version && (
              <button type="button" class="link" onClick={() => onRollback(v.version)}>Roll back to v{v.version}</button>
            )}
          </li>
        ))}
      </ul>
      {picked && (
        <pre class="diff" tabIndex={0} aria-label={`Changes from version ${picked.version} to the current one`}>
          {diffLines(JSON.stringify(picked.definition, null, 2), JSON.stringify(agent.definition, null, 2)).map((line, i) => (
            <div key={i} class={line.op === "+" ? "add" : line.op === "-" ? "del" : ""}>{line.op} {line.text}</div>
          ))}
        </pre>
      )}
    </details>
  );
}

function Sharing({ agentId }: { agentId: string }) {
  const grants = useLoad(() => api.get<Permission[]>(`/agents/${agentId}/permissions`), [agentId]);
  const [username, setUsername] = useState("");
  const [level, setLevel] = useState("execute");
  const [error, setError] = useState<string | null>(null);
  const [wrong, setWrong] = useState<string | null>(null);
  async function change(what: () => Promise<unknown>) {
    setError(null);
    try {
      await what();
      grants.reload();
      return true;
    } catch (e) {
      const named = fieldProblems(e, "share", { username: "Username" }, { username });
      if (named.username) setWrong(named.username);
      else setError(e instanceof Error && "code" in e && e.code === "user_not_found" ? `Nobody is called “${username.trim()}” here.` : describeError(e));
      return false;
    }
  }
  async function share(event: Event) {
    event.preventDefault();
    const said = problem("share", "username", "Username", username.trim());
    setWrong(said);
    if (said) return showFirst(["share-user"]);
    if (await change(() => api.request("POST", `/agents/${agentId}/permissions`, { username: username.trim(), level }))) setUsername("");
  }
  return (
    <details>
      <summary><h2>Sharing</h2></summary>
      <Alert message={error ?? grants.error} />
      <ul aria-label="Shared with">
        {grants.data?.map((g) => (
          <li key={g.user_id}>{g.username}: {g.level}{" "}
            <button type="button" class="link" aria-label={`Stop sharing with ${g.username}`}
              onClick={() => change(() => api.request("DELETE", `/agents/${agentId}/permissions/${g.user_id}`))}>Stop sharing</button>
          </li>
        ))}
      </ul>
      <form class="row" onSubmit={share}>
        <Field label="Username" id="share-user" error={wrong ?? undefined}><input id="share-user" value={username} onInput={(e) => setUsername(e.currentTarget.value)} /></Field>
        <Field label="Level" id="share-level">
          <select id="share-level" value={level} onChange={(e) => setLevel(e.currentTarget.value)}>
            <option value="read">read</option><option value="execute">execute</option><option value="edit">edit</option>
          </select>
        </Field>
        <button type="submit">Share</button>
      </form>
    </details>
  );
}

function Publish({ agentId }: { agentId: string }) {
  const [category, setCategory] = useState("");
  const [summary, setSummary] = useState("");
  const [tags, setTags] = useState("");
  const [error, setError] = useState<string | null>(null);
  async function publish(event: Event) {
    event.preventDefault();
    setError(null);
    try {
      const listing = await api.request<{ id: string }>("POST", "/marketplace", {
        agent_id: agentId,
        category,
        summary,
        tags: tags.split(",").map((t) => t.trim()).filter(Boolean),
      });
      go(`marketplace/${listing.id}`);
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <details>
      <summary><h2>Publish to the marketplace</h2></summary>
      <form onSubmit={publish}>
        <Field label="Category" id="publish-category" hint="letters, digits and -">
          <input id="publish-category" required value={category} onInput={(e) => setCategory(e.currentTarget.value)} />
        </Field>
        <Field label="Tags (comma-separated)" id="publish-tags">
          <input id="publish-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
        </Field>
        <Field label="Summary" id="publish-summary">
          <textarea id="publish-summary" rows={2} value={summary} onInput={(e) => setSummary(e.currentTarget.value)} />
        </Field>
        <Alert message={error} />
        <button type="submit">Publish</button>
      </form>
    </details>
  );
}
