// The agent definition as a form: model from the catalog's providers, the system prompt, each
// catalog tool (enabled, needs approval, its configuration from the tool's JSON schema), MCP
// servers, and limits.
import { useState } from "preact/hooks";
import { collect, fieldsOf, showField, type Field as SchemaField, type JsonSchema } from "../schemaForm";
import { rowsOf, specOf, type McpRow } from "../mcp";
import { Field } from "../ui";
import { McpServers } from "./McpServers";

export interface Catalog {
  providers: { name: string; configured: boolean; models: string[] }[];
  tools: { name: string; description: string; config_schema: JsonSchema }[];
}

export type Definition = Record<string, unknown> & {
  model?: { provider: string; name: string };
  system_prompt?: string;
  tools?: { name: string; enabled?: boolean; config?: Record<string, unknown>; requires_approval?: unknown }[];
  mcp_servers?: unknown[];
};

function SchemaInputs(props: {
  fields: SchemaField[];
  prefix: string;
  raw: Record<string, string | boolean>;
  errors: Record<string, string>;
  onChange: (name: string, value: string | boolean) => void;
}) {
  return (
    <>
      {props.fields.map((field) => {
        const id = `${props.prefix}-${field.name}`;
        const value = props.raw[field.name];
        if (field.kind === "boolean") {
          return (
            <div class="check" key={id}>
              <input type="checkbox" id={id} checked={value === true}
                onChange={(e) => props.onChange(field.name, e.currentTarget.checked)} />
              <label for={id}>{field.label}</label>
            </div>
          );
        }
        return (
          <Field key={id} id={id} label={field.label + (field.required ? " (required)" : "")}
            hint={field.description} error={props.errors[field.name]}>
            {field.kind === "choice" ? (
              <select id={id} value={String(value ?? "")}
                onChange={(e) => props.onChange(field.name, e.currentTarget.value)}>
                <option value="">—</option>
                {field.options!.map((o) => <option key={o} value={o}>{o}</option>)}
              </select>
            ) : field.kind === "json" ? (
              <textarea id={id} rows={3} value={String(value ?? "")}
                onInput={(e) => props.onChange(field.name, e.currentTarget.value)} />
            ) : (
              <input id={id} inputMode={field.kind === "text" || field.kind === "list" ? "text" : "decimal"}
                placeholder={field.schema.default === undefined ? undefined : `default: ${String(field.schema.default)}`}
                value={String(value ?? "")}
                onInput={(e) => props.onChange(field.name, e.currentTarget.value)} />
            )}
          </Field>
        );
      })}
    </>
  );
}

export function DefinitionForm(props: {
  catalog: Catalog;
  initial: Definition;
  submitLabel: string;
  onSubmit: (definition: Definition) => void;
}) {
  const { catalog, initial } = props;
  const [provider, setProvider] = useState(initial.model?.provider ?? "test");
  const [model, setModel] = useState(initial.model?.name ?? "test");
  const [prompt, setPrompt] = useState(initial.system_prompt ?? "");
  const toolsIn = Object.fromEntries((initial.tools ?? []).map((t) => [t.name, t]));
  const [enabled, setEnabled] = useState<Record<string, boolean>>(
    Object.fromEntries(catalog.tools.map((t) => [t.name, toolsIn[t.name]?.enabled !== false && t.name in toolsIn])),
  );
  const [approval, setApproval] = useState<Record<string, boolean>>(
    Object.fromEntries(catalog.tools.map((t) => [t.name, toolsIn[t.name]?.requires_approval === true])),
  );
  const [raw, setRaw] = useState<Record<string, Record<string, string | boolean>>>(() =>
    Object.fromEntries(
      catalog.tools.map((t) => [
        t.name,
        Object.fromEntries(
          fieldsOf(t.config_schema).map((f) => [f.name, showField(f, toolsIn[t.name]?.config?.[f.name])]),
        ),
      ]),
    ),
  );
  const [mcp, setMcp] = useState<McpRow[]>(() => rowsOf(initial.mcp_servers));
  const [errors, setErrors] = useState<Record<string, Record<string, string>>>({});
  const models = catalog.providers.find((p) => p.name === provider)?.models ?? [];

  function submit(event: Event) {
    event.preventDefault();
    const found: Record<string, Record<string, string>> = {};
    const tools = [];
    for (const tool of catalog.tools) {
      if (!enabled[tool.name]) continue;
      const { value, errors: toolErrors } = collect(fieldsOf(tool.config_schema), raw[tool.name]);
      if (Object.keys(toolErrors).length) found[tool.name] = toolErrors;
      tools.push({ name: tool.name, enabled: true, config: value, ...(approval[tool.name] ? { requires_approval: true } : {}) });
    }
    const servers = mcp.map(specOf);
    setErrors(found);
    if (Object.keys(found).length) return;
    const { model: _m, system_prompt: _s, tools: _t, mcp_servers: _x, ...rest } = initial;
    props.onSubmit({ ...rest, model: { provider, name: model }, system_prompt: prompt, tools, mcp_servers: servers });
  }

  return (
    <form onSubmit={submit} class="card">
      <div class="row">
        <Field label="Provider" id="provider">
          <select id="provider" value={provider} onChange={(e) => {
            const next = e.currentTarget.value;
            setProvider(next);
            setModel(catalog.providers.find((p) => p.name === next)?.models[0] ?? "");
          }}>
            {catalog.providers.map((p) => (
              <option key={p.name} value={p.name}>{p.name}{p.configured ? "" : " (not configured here)"}</option>
            ))}
          </select>
        </Field>
        <Field label="Model" id="model">
          <select id="model" value={model} onChange={(e) => setModel(e.currentTarget.value)}>
            {models.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </Field>
      </div>
      <NotConfigured catalog={catalog} provider={provider} />
      <Field label="System prompt" id="system-prompt">
        <textarea id="system-prompt" rows={4} value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} />
      </Field>
      <fieldset>
        <legend>Tools</legend>
        {catalog.tools.map((tool) => (
          <div key={tool.name} class="tool">
            <div class="check">
              <input type="checkbox" id={`tool-${tool.name}`} checked={enabled[tool.name]}
                onChange={(e) => setEnabled({ ...enabled, [tool.name]: e.currentTarget.checked })} />
              <label for={`tool-${tool.name}`}><strong>{tool.name}</strong> — {tool.description}</label>
            </div>
            {enabled[tool.name] && (
              <div class="tool-config">
                <div class="check">
                  <input type="checkbox" id={`approval-${tool.name}`} checked={approval[tool.name]}
                    onChange={(e) => setApproval({ ...approval, [tool.name]: e.currentTarget.checked })} />
                  <label for={`approval-${tool.name}`}>Ask me before each call of {tool.name}</label>
                </div>
                <SchemaInputs fields={fieldsOf(tool.config_schema)} prefix={`config-${tool.name}`}
                  raw={raw[tool.name]} errors={errors[tool.name] ?? {}}
                  onChange={(name, value) => setRaw({ ...raw, [tool.name]: { ...raw[tool.name], [name]: value } })} />
              </div>
            )}
          </div>
        ))}
      </fieldset>
      <McpServers rows={mcp} onChange={setMcp} />
      <button type="submit">{props.submitLabel}</button>
    </form>
  );
}

/** A warning when the chosen provider cannot be called on this deployment: the agent would be
 * made, and fail at its first message. */
export function NotConfigured({ catalog, provider }: { catalog: Catalog; provider: string }) {
  const entry = catalog.providers.find((p) => p.name === provider);
  if (!entry || entry.configured) return null;
  return (
    <p class="warning" role="status">
      {provider} is not configured on this deployment: an agent on it fails at its first message.
      Choose another provider, or ask an admin to configure it (VERTEX_PROJECT).
    </p>
  );
}
