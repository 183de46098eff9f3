import { describe, expect, it } from "vitest";
import { blankRow, rowsOf, specOf } from "./mcp";

describe("MCP server rows", () => {
  it("reads a credential-backed Authorization header and writes it back unchanged", () => {
    const spec = {
      name: "docs",
      url: "https://docs.example.com/mcp",
      transport: "sse",
      headers: { Authorization: { credential: "docs-key", prefix: "Bearer " }, "X-Team": "a" },
      tools: ["search"],
      requires_approval: true,
    };
    const [row] = rowsOf([spec]);
    expect(row.credential).toBe("docs-key");
    expect(row.requiresApproval).toBe(true);
    expect(specOf(row)).toEqual(spec);
  });

  it("keeps a per-tool approval list unless every call is to be approved", () => {
    const [row] = rowsOf([{ name: "x", url: "https://x/mcp", requires_approval: ["delete"] }]);
    expect(row.requiresApproval).toBe(false);
    expect(specOf(row).requires_approval).toEqual(["delete"]);
    expect(specOf({ ...row, requiresApproval: true }).requires_approval).toBe(true);
  });

  it("a new row with a credential chosen becomes a server with its header", () => {
    const row = { ...blankRow(), name: " wiki ", url: "https://wiki/mcp", credential: "wiki-token" };
    expect(specOf(row)).toEqual({
      name: "wiki",
      url: "https://wiki/mcp",
      transport: "streamable-http",
      headers: { Authorization: { credential: "wiki-token", prefix: "Bearer " } },
    });
  });
});
