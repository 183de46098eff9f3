"""One folder per route group; each main.py exposes `routes` (its RouteGroup) and `entry`
(the functions-framework target)."""

GROUPS: tuple[str, ...] = (
    "health",
    "auth",
    "users",
    "agents",
    "executions",
    "sessions",
    "artifacts",
    "tasks",
    "marketplace",
    "credentials",
    "api_keys",
    "schedules",
    "knowledge_bases",
    "memories",
    "openai_api",
    "mcp_server",
    "a2a",
    "eval_sets",
    "evals",
    "console",
)
