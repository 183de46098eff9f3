"""MCP servers in agent definitions: where they may be (servers), how runs reach them (toolset)."""
