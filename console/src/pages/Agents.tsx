import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { fieldProblems, problems, ruleOf, showFirst } from "../forms";
import { go } from "../router";
import { Alert, Field, Page, useLoad, type PageOf } from "../ui";
import { DefinitionForm, NotConfigured, type Catalog, type Definition } from "./definitionForm";

export interface Agent {
  id: string;
  name: string;
  display_name: string;
  description: string;
  owner_id: string;
  scope: string;
  agent_kind: string;
  version: string;
  definition: Definition;
}

export function Agents() {
  const agents = useLoad(() => api.get<PageOf<Agent>>("/agents?limit=100"), []);
  return (
    <Page title="Agents" actions={<a class="button" href="#/agents/new">New agent</a>}>
      <Alert message={agents.error} />
      <ul class="cards">
        {agents.data?.items.map((agent) => (
          <li key={agent.id} class="card">
            <h2><a href={`#/agents/${agent.id}`}>{agent.display_name}</a></h2>
            <p class="muted">{agent.name} · v{agent.version} · {agent.scope} · {agent.agent_kind}</p>
            <p>{agent.description}</p>
          </li>
        ))}
      </ul>
      {agents.data?.items.length === 0 && <p>No agents yet: make one from a template.</p>}
    </Page>
  );
}

export function NewAgent() {
  const templates = useLoad(() => api.get<PageOf<Agent>>("/agents/templates?limit=100"), []);
  const catalog = useLoad(() => api.get<Catalog>("/agents/catalog"), []);
  const [from, setFrom] = useState<string>("");
  const [name, setName] = useState("");
  const [display, setDisplay] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [wrong, setWrong] = useState<Record<string, string>>({});
  const ids: Record<string, string> = { name: "agent-name", display_name: "display-name" };

  async function create(body: Record<string, unknown>) {
    setError(null);
    const values = { name, display_name: display || (from ? "" : name) };
    const labels: Record<string, string> = from ? { name: "Name" } : { name: "Name", display_name: "Display name" };
    const found = problems("agent", values, labels);
    setWrong(found);
    if (Object.keys(found).length) return showFirst(Object.keys(found).map((f) => ids[f]));
    try {
      const agent = await api.request<Agent>("POST", "/agents", body);
      go(`agents/${agent.id}`);
    } catch (e) {
      const named = fieldProblems(e, "agent", labels, values);
      setWrong(named);
      if (Object.keys(named).length) showFirst(Object.keys(named).map((f) => ids[f]));
      else setError(describeError(e));
    }
  }
  const template = templates.data?.items.find((t) => t.id === from);

  return (
    <Page title="New agent">
      <div class="card">
        <Field label="Start from" id="start-from">
          <select id="start-from" value={from} onChange={(e) => setFrom(e.currentTarget.value)}>
            <option value="">A blank definition</option>
            {templates.data?.items.map((t) => (
              <option key={t.id} value={t.id}>Template: {t.display_name}</option>
            ))}
          </select>
        </Field>
        <Field label="Name" id="agent-name" hint={ruleOf("agent", "name").description} error={wrong.name}>
          <input id="agent-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Display name" id="display-name" error={wrong.display_name}>
          <input id="display-name" value={display} onInput={(e) => setDisplay(e.currentTarget.value)} />
        </Field>
      </div>
      <Alert message={error ?? templates.error ?? catalog.error} />
      {from && catalog.data && template?.definition.model && (
        <NotConfigured catalog={catalog.data} provider={template.definition.model.provider} />
      )}
      {from ? (
        <button type="button" onClick={() => create({ from_template: from, name, ...(display ? { display_name: display } : {}) })}>
          Create from template
        </button>
      ) : (
        catalog.data && (
          <DefinitionForm catalog={catalog.data} initial={{}} submitLabel="Create agent"
            onSubmit={(definition) => create({ name, display_name: display || name, definition })} />
        )
      )}
    </Page>
  );
}
