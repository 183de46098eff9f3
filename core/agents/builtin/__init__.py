"""The agents defined in code: static agents every signed-in user may run, and the templates
users start their own agents from (`GET /agents/templates`, `POST /agents {from_template}`).

They belong to the system account and are read-only through the API; `python -m core.cli
migrate` (and `make dev` at start) syncs the database with this list
(core.services.builtin_agents): a changed definition becomes a new version, a removed agent is
retired. A definition without a model runs on the deployment's default model
(DEFAULT_MODEL_PROVIDER)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class BuiltinAgent:
    name: str
    kind: Literal["static", "template"]
    display_name: str
    description: str
    definition: dict[str, Any]


def _tools(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "enabled": True, "config": {}} for name in names]


BUILTIN_AGENTS: tuple[BuiltinAgent, ...] = (
    BuiltinAgent(
        name="assistant",
        kind="static",
        display_name="Assistant",
        description="A general assistant that can read and write files in its workspace.",
        definition={
            "system_prompt": (
                "You are a helpful, concise assistant. Use the workspace files when the user "
                "mentions them; say so when you are unsure."
            ),
            "tools": _tools("file_read", "file_write", "find", "grep"),
        },
    ),
    BuiltinAgent(
        name="file-analyst",
        kind="template",
        display_name="File analyst",
        description=(
            "Reads the files of its session (uploads included), searches them and writes its "
            "findings to report.md."
        ),
        definition={
            "system_prompt": (
                "You analyse the files in your workspace. Find the relevant ones with `find` and "
                "`grep`, read what matters, and answer with specific references (file and line). "
                "When asked for a report, write it to report.md."
            ),
            "tools": _tools("find", "grep", "file_read", "file_write"),
            "limits": {"max_requests": 30, "max_tool_calls": 80},
        },
    ),
    BuiltinAgent(
        name="researcher",
        kind="template",
        display_name="Researcher",
        description="Searches the web and answers with the sources it used.",
        definition={
            "system_prompt": (
                "You research questions on the web. Search, compare at least two sources when "
                "you can, and end your answer with a list of the sources you relied on."
            ),
            "tools": _tools("web_search"),
        },
    ),
    BuiltinAgent(
        name="reviewer",
        kind="template",
        display_name="Reviewer",
        description=(
            "Reviews a text or a change and answers in a fixed structure: a verdict and the "
            "issues found, each with its severity."
        ),
        definition={
            "system_prompt": (
                "You review what you are given (a text, code, a plan). Judge it on correctness, "
                "clarity and risk; report each issue once, most severe first."
            ),
            "output_schema": {
                "type": "object",
                "properties": {
                    "verdict": {"type": "string", "enum": ["approve", "revise", "reject"]},
                    "issues": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "severity": {"type": "string", "enum": ["high", "medium", "low"]},
                                "description": {"type": "string"},
                            },
                            "required": ["severity", "description"],
                        },
                    },
                },
                "required": ["verdict", "issues"],
            },
        },
    ),
)
