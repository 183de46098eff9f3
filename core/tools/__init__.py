"""Agent tools: confined file access (workspace and repo), grep, find, and the tool registry.

Importing this package is cheap: `registry` loads pydantic-ai only when a tool is built."""
