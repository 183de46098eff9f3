"""The tools an agent definition may enable, their configuration, and how to build them.

Kept light (pydantic only): the catalog and agent CRUD validate tool configs without loading
pydantic-ai, which is imported only when a tool is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from pydantic_ai import Tool

from core.tools.configs import (
    DelegateConfig,
    FileReadConfig,
    FileWriteConfig,
    FindConfig,
    GrepConfig,
    WebSearchConfig,
)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    config_model: type[BaseModel]
    native: bool = False
    # "module:function" making the tool's function from its config; imported only when built,
    # so the registry (catalog, validation) never loads pydantic-ai
    maker: str | None = None
    # the config's limits, told to the model after the description
    limits: Callable[[Any], str] = field(default=lambda config: "", repr=False, compare=False)
    # safe to run again after a crash left its outcome unknown (it only reads)
    repeatable: bool = False

    def build(self, config: BaseModel, *, requires_approval: bool = False) -> Tool[Any]:
        """The pydantic-ai tool for this spec, with the limits of `config` baked in."""
        if self.native or self.maker is None:
            raise NotImplementedError(
                f"{self.name} is a native tool: the model factory wires it for each provider"
            )
        if not isinstance(config, self.config_model):
            raise TypeError(
                f"{self.name} expects a {self.config_model.__name__}, got {type(config).__name__}"
            )
        from importlib import import_module

        from pydantic_ai import Tool

        module, _, function = self.maker.partition(":")
        return Tool(
            getattr(import_module(module), function)(config),
            name=self.name,
            description=f"{self.description} {self.limits(config)}".strip(),
            takes_ctx=True,
            requires_approval=requires_approval,
            metadata={"repeatable": self.repeatable},
        )


TOOL_SPECS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec(
            name="file_read",
            description=(
                "Read a UTF-8 text file from the session workspace or, with root='repo', from "
                "the project repository (read-only). Binary files are refused."
            ),
            config_model=FileReadConfig,
            maker="core.tools.file_tools:make_file_read",
            repeatable=True,
            limits=lambda c: (
                f"At most {c.max_bytes} bytes are returned per call; a note gives the offset "
                "to continue from."
            ),
        ),
        ToolSpec(
            name="file_write",
            description=(
                "Create or replace a UTF-8 text file in the session workspace; parent "
                "directories are created as needed."
            ),
            config_model=FileWriteConfig,
            maker="core.tools.file_tools:make_file_write",
            limits=lambda c: f"Content is limited to {c.max_bytes} bytes (UTF-8).",
        ),
        ToolSpec(
            name="grep",
            description=(
                "Search files in the workspace or the repository for a regular expression "
                "(Python `regex` syntax; ^ and $ match at line boundaries) and return "
                "`path:line: text` for each matching line."
            ),
            config_model=GrepConfig,
            maker="core.tools.file_tools:make_grep",
            repeatable=True,
            limits=lambda c: (
                f"Reports at most {c.max_matches} matching lines; skips binary files and files "
                f"over {c.max_file_bytes} bytes."
            ),
        ),
        ToolSpec(
            name="find",
            description=(
                "List files in the workspace or the repository whose path matches a glob "
                "(`*` also matches '/'; a pattern without '/' is matched against file names "
                "too, so '*.py' finds Python files at any depth)."
            ),
            config_model=FindConfig,
            maker="core.tools.file_tools:make_find",
            repeatable=True,
            limits=lambda c: f"Returns at most {c.max_results} paths.",
        ),
        ToolSpec(
            name="delegate",
            description=(
                "Ask another agent (one you may execute) to do part of the work; returns its "
                "answer. Its usage counts towards this run's limits."
            ),
            config_model=DelegateConfig,
            maker="core.tools.delegate:make_delegate",
            limits=lambda c: "You may call: " + ", ".join(str(a) for a in c.agents) + ".",
        ),
        ToolSpec(
            name="web_search",
            description=(
                "Search the web with the model provider's native search (Gemini grounding, "
                "Claude web search)."
            ),
            config_model=WebSearchConfig,
            native=True,
        ),
    ]
}


def tool_catalog() -> list[dict[str, Any]]:
    """Every tool with its description and the JSON schema of its configuration."""
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "config_schema": spec.config_model.model_json_schema(),
        }
        for spec in sorted(TOOL_SPECS.values(), key=lambda spec: spec.name)
    ]


def parse_tool_config(name: str, config: dict[str, Any]) -> BaseModel:
    """The validated configuration of tool `name`.

    Raises KeyError for an unknown tool and pydantic.ValidationError for a bad config."""
    spec = TOOL_SPECS.get(name)
    if spec is None:
        raise KeyError(name)
    return spec.config_model.model_validate(config)


OFFLINE_WEB_SEARCH_ANSWER = (
    "web_search is an offline stand-in here: there is no web access and the search returned "
    "no results. Answer from what you already know and say that nothing was searched."
)


def _offline_web_search(
    query: Annotated[str, Field(min_length=1, max_length=500, description="What to search for.")],
) -> str:
    return OFFLINE_WEB_SEARCH_ANSWER


def offline_web_search_tool(
    config: BaseModel | None = None, *, requires_approval: bool = False
) -> Tool[Any]:
    """A function tool named web_search for the offline `test` provider: never searches.

    `config` (a WebSearchConfig) is accepted so callers wire it like the native tool; a search
    that returns nothing has nothing to limit."""
    from pydantic_ai import Tool

    return Tool(
        _offline_web_search,
        name="web_search",
        description="Search the web (offline stand-in in this environment: returns no results).",
        takes_ctx=False,
        requires_approval=requires_approval,
        metadata={"repeatable": True},
    )
