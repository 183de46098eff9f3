"""Agents: model providers, pricing and usage, the agent factory and the runner.

Importing this package is cheap; provider SDKs and pydantic-ai load only when an agent is built.
"""

# what running an agent imports (core.warmup loads it once): pydantic-ai, its offline models
# and our code around it
AGENT_RUNTIME: tuple[str, ...] = (
    "pydantic_ai",
    "pydantic_ai.messages",
    "pydantic_ai.models.test",
    "pydantic_ai.models.function",
    "pydantic_ai.models.fallback",
    "core.agents.factory",
    "core.agents.runner",
    "core.tools.registry",
    "core.tools.file_tools",
    "core.tools.delegate",
)
