// The agent's MCP servers as a form: name, URL, transport, the credential its Authorization
// header comes from, approval of every call, and a button that lists the server's tools as a
// run would see them (POST /agents/mcp/inspect).
import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { blankRow, specOf, type McpRow } from "../mcp";
import { Field, useLoad, type PageOf } from "../ui";

export function McpServers({ rows, onChange }: { rows: McpRow[]; onChange: (rows: McpRow[]) => void }) {
  const credentials = useLoad(() => api.get<PageOf<{ name: string }>>("/credentials?limit=100"), []);
  const [tools, setTools] = useState<Record<number, string>>({});
  const set = (index: number, change: Partial<McpRow>) =>
    onChange(rows.map((row, i) => (i === index ? { ...row, ...change } : row)));

  async function inspect(index: number) {
    const spec = specOf(rows[index]);
    setTools({ ...tools, [index]: "Connecting…" });
    try {
      const found = await api.request<{ tools: { name: string }[] }>("POST", "/agents/mcp/inspect", {
        url: spec.url,
        transport: spec.transport,
        ...(spec.headers ? { headers: spec.headers } : {}),
      });
      setTools({ ...tools, [index]: `Tools: ${found.tools.map((t) => t.name).join(", ") || "none"}` });
    } catch (e) {
      setTools({ ...tools, [index]: describeError(e) });
    }
  }

  return (
    <fieldset>
      <legend>MCP servers</legend>
      {rows.map((row, i) => (
        <div class="tool" key={i} role="group" aria-label={`MCP server ${i + 1}`}>
          <div class="row">
            <Field label="Name" id={`mcp-name-${i}`} hint="lower-case letters and digits; its tools are <name>_<tool>">
              <input id={`mcp-name-${i}`} value={row.name} onInput={(e) => set(i, { name: e.currentTarget.value })} />
            </Field>
            <Field label="URL" id={`mcp-url-${i}`}>
              <input id={`mcp-url-${i}`} type="url" value={row.url} onInput={(e) => set(i, { url: e.currentTarget.value })} />
            </Field>
            <Field label="Transport" id={`mcp-transport-${i}`}>
              <select id={`mcp-transport-${i}`} value={row.transport}
                onChange={(e) => set(i, { transport: e.currentTarget.value as McpRow["transport"] })}>
                <option value="streamable-http">streamable HTTP</option>
                <option value="sse">SSE</option>
              </select>
            </Field>
          </div>
          <div class="row">
            <Field label="Authorization from credential" id={`mcp-cred-${i}`} hint="your credentials (the Credentials page)">
              <select id={`mcp-cred-${i}`} value={row.credential} onChange={(e) => set(i, { credential: e.currentTarget.value })}>
                <option value="">none</option>
                {credentials.data?.items.map((c) => <option key={c.name} value={c.name}>{c.name}</option>)}
              </select>
            </Field>
            <Field label="Prefix" id={`mcp-prefix-${i}`}>
              <input id={`mcp-prefix-${i}`} value={row.prefix} onInput={(e) => set(i, { prefix: e.currentTarget.value })} />
            </Field>
          </div>
          <div class="check">
            <input type="checkbox" id={`mcp-approval-${i}`} checked={row.requiresApproval}
              onChange={(e) => set(i, { requiresApproval: e.currentTarget.checked })} />
            <label for={`mcp-approval-${i}`}>Ask me before each call of this server's tools</label>
          </div>
          <button type="button" class="secondary" onClick={() => inspect(i)}>List its tools</button>{" "}
          <button type="button" class="link" onClick={() => onChange(rows.filter((_, j) => j !== i))}>
            Remove MCP server {i + 1}
          </button>
          {tools[i] && <p role="status">{tools[i]}</p>}
        </div>
      ))}
      <button type="button" class="secondary" onClick={() => onChange([...rows, blankRow()])}>Add an MCP server</button>
    </fieldset>
  );
}
