// MCP servers of a definition as rows of a form, and back: the Authorization header taken from
// one of the user's credentials (the service refuses a secret header given in plain text);
// anything the form does not show (other headers, a tool allow-list) is kept as it was.

export interface McpRow {
  name: string;
  url: string;
  transport: "streamable-http" | "sse";
  credential: string; // "" : no Authorization header
  prefix: string;
  requiresApproval: boolean;
  kept: Record<string, unknown>;
}

type Spec = Record<string, unknown> & {
  name?: string;
  url?: string;
  transport?: "streamable-http" | "sse";
  headers?: Record<string, unknown>;
  requires_approval?: boolean | string[];
};

export function rowsOf(servers: unknown[] | undefined): McpRow[] {
  return (servers ?? []).map((raw) => {
    const { name, url, transport, headers, requires_approval, ...kept } = raw as Spec;
    const { Authorization: auth, ...otherHeaders } = headers ?? {};
    const fromCredential = auth && typeof auth === "object" ? (auth as { credential: string; prefix?: string }) : null;
    return {
      name: name ?? "",
      url: url ?? "",
      transport: transport ?? "streamable-http",
      credential: fromCredential?.credential ?? "",
      prefix: fromCredential?.prefix ?? "Bearer ",
      requiresApproval: requires_approval === true,
      kept: {
        ...kept,
        ...(Object.keys(otherHeaders).length ? { headers: otherHeaders } : {}),
        // a list of tools needing approval is kept unless the switch says "every tool"
        ...(Array.isArray(requires_approval) ? { requires_approval } : {}),
      },
    };
  });
}

export function specOf(row: McpRow): Record<string, unknown> {
  const kept = { ...row.kept };
  const headers = { ...((kept.headers as Record<string, unknown>) ?? {}) };
  delete kept.headers;
  if (row.credential) headers.Authorization = { credential: row.credential, prefix: row.prefix };
  const approval = row.requiresApproval ? true : kept.requires_approval;
  delete kept.requires_approval;
  return {
    ...kept,
    name: row.name.trim(),
    url: row.url.trim(),
    transport: row.transport,
    ...(Object.keys(headers).length ? { headers } : {}),
    ...(approval ? { requires_approval: approval } : {}),
  };
}

export function blankRow(): McpRow {
  return { name: "", url: "", transport: "streamable-http", credential: "", prefix: "Bearer ", requiresApproval: false, kept: {} };
}
