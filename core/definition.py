"""The JSON definition of an agent (DESIGN §5), validated with pydantic.

Parsing is split in two: the shape (this module's models, inside the request body) and the
tool configurations, which depend on the tool registry (`check_definition`). Both report errors
with the JSON path of the offending field.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.egress import PUBLIC_URL_PATTERN
from core.errors import Conflict, Invalid, field_error
from core.json_schema import NESTS_FREELY
from core.secret_names import is_secret_key
from core.tools.configs import KNOWLEDGE_SEARCH, MEMORY_TOOLS

Provider = Literal["google-vertex", "anthropic-vertex", "test"]

# names a provider accepts: the model families it serves (new versions need no release)
MODEL_NAME_PATTERNS: dict[str, re.Pattern[str]] = {
    "google-vertex": re.compile(r"^gemini-[a-z0-9][a-z0-9.\-]{0,62}$"),
    "anthropic-vertex": re.compile(r"^claude-[a-z0-9][a-z0-9.\-@]{0,62}$"),
    "test": re.compile(r"^test(-[a-z0-9\-]{1,40})?$"),
}
MAX_TOOLS = 16
MAX_SYSTEM_PROMPT = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSettingsSpec(_Strict):
    """Generation settings; numbers must be JSON numbers (a string is a type error)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=65_536)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop_sequences: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=8
    )
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


def _names_by_provider(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [
        {
            "properties": {
                "provider": {"const": provider},
                "name": {"pattern": pattern.pattern},
            }
        }
        for provider, pattern in MODEL_NAME_PATTERNS.items()
    ]


class ModelRef(_Strict):
    """A model of a provider; its name must fit the provider (`oneOf` says how)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_names_by_provider)

    provider: Provider
    name: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _name_fits_provider(self) -> ModelRef:
        if not MODEL_NAME_PATTERNS[self.provider].match(self.name):
            raise ValueError(f"{self.name!r} is not a model of provider {self.provider!r}")
        return self


class ModelSpec(ModelRef):
    settings: ModelSettingsSpec = Field(default_factory=ModelSettingsSpec)
    fallback: list[ModelRef] = Field(default_factory=list, max_length=3)


def _registered_tool_names(schema: dict[str, Any]) -> None:
    from core.tools.registry import TOOL_SPECS

    schema["enum"] = sorted(TOOL_SPECS)


def _one_branch_per_tool(schema: dict[str, Any]) -> None:
    """Each tool with its own configuration (and web_search, which runs at the provider, never
    waiting for approval): the document states what check_definition holds a tool to."""
    from core.json_schema import standalone
    from core.tools.registry import TOOL_SPECS

    fields = schema["properties"]
    branches = []
    for name, spec in sorted(TOOL_SPECS.items()):
        # titles name the models a client generator makes of each branch
        title = "".join(part.capitalize() for part in name.split("_"))
        config = standalone(spec.config_model.model_json_schema())
        config["title"] = f"{title}Config"
        branch = {**fields, "name": {"const": name}, "config": config}
        if name in _NATIVE_TOOLS:
            branch["requires_approval"] = {**fields["requires_approval"], "const": False}
        branches.append(
            {
                "title": f"{title}Tool",
                "type": "object",
                "additionalProperties": False,
                # a config with required fields must be given
                "required": ["name", "config"] if config.get("required") else ["name"],
                "properties": branch,
            }
        )
    for key in ("properties", "required", "additionalProperties", "type"):
        schema.pop(key, None)
    schema["oneOf"] = branches


class ToolRef(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_branch_per_tool)

    name: str = Field(min_length=1, max_length=64, json_schema_extra=_registered_tool_names)
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)
    requires_approval: bool = Field(
        default=False,
        description="each call waits for a person's decision (POST /executions/{id}/approvals)",
    )


MAX_MCP_SERVERS = 8
MAX_MCP_HEADERS = 8
MCP_TOOL_NAME = r"^[A-Za-z0-9_.\-]{1,256}$"  # MCP names as servers list them (allow-lists)


class CredentialHeader(_Strict):
    """A header value taken from the caller's credential of that name when the run starts."""

    credential: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
    prefix: str = Field(default="", max_length=64, pattern=r"^[\x20-\x7e]*$")


McpHeaders = dict[
    Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")],
    Annotated[str, Field(max_length=1000, pattern=r"^[\x20-\x7e]*$")] | CredentialHeader,
]
McpTransport = Literal["streamable-http", "sse"]


def check_secret_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """A header whose name says it is secret must take its value from a credential."""
    for name, value in headers.items():
        if isinstance(value, str) and is_secret_key(name):
            raise ValueError(
                f"header {name} looks secret: take it from a credential "
                '({"credential": "<name>", "prefix": "Bearer "}), not a plain value'
            )
    return headers


def _not_a_tool_prefix(schema: dict[str, Any]) -> None:
    from core.tools.registry import TOOL_SPECS

    schema["not"] = {"enum": sorted({t.split("_", 1)[0] for t in TOOL_SPECS if "_" in t})}


# an MCP server's address, in a definition and to inspect (core.egress checks it when used)
McpUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="https to a host name that resolves to public addresses (or a host in "
        "MCP_ALLOWED_HOSTS); one that does not resolve, or no MCP server answering there, is a 404",
        json_schema_extra={"pattern": PUBLIC_URL_PATTERN},
    ),
]


class McpServerSpec(_Strict):
    """An MCP server whose tools the agent may call (streamable HTTP, or SSE)."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9]{0,19}$",
        description="its tools appear to the model as <name>_<tool>; not a built-in tool's "
        "first word",
        json_schema_extra=_not_a_tool_prefix,
    )
    url: McpUrl
    transport: McpTransport = "streamable-http"
    headers: McpHeaders = Field(default_factory=dict, max_length=MAX_MCP_HEADERS)
    tools: list[Annotated[str, Field(pattern=MCP_TOOL_NAME)]] | None = Field(
        default=None, min_length=1, max_length=64, description="only these tools (by MCP name)"
    )
    requires_approval: bool | list[Annotated[str, Field(pattern=MCP_TOOL_NAME)]] = Field(
        default=False, description="every tool, or these tools (by MCP name), wait for approval"
    )

    _secret_headers = field_validator("headers")(check_secret_headers)

    @property
    def endpoint(self) -> str:
        return self.url

    @property
    def label(self) -> str:
        return f"MCP server {self.name}"

    def credential_names(self) -> set[str]:
        return {v.credential for v in self.headers.values() if isinstance(v, CredentialHeader)}

    def needs_approval(self, tool: str) -> bool:
        """Whether a call of MCP tool `tool` waits for a person's decision."""
        if isinstance(self.requires_approval, bool):
            return self.requires_approval
        return tool in self.requires_approval


MAX_A2A_AGENTS = 8


def _not_a_tool_name(schema: dict[str, Any]) -> None:
    from core.tools.registry import TOOL_SPECS

    schema["not"] = {"enum": sorted(t for t in TOOL_SPECS if "_" not in t)}


# a remote agent's card, in a definition (core.egress checks it, and every hop, when used)
A2aCardUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="its agent card (…/.well-known/agent-card.json): https to a host name that "
        "resolves to public addresses (or a host in A2A_ALLOWED_HOSTS)",
        json_schema_extra={"pattern": PUBLIC_URL_PATTERN},
    ),
]


class A2aAgentSpec(_Strict):
    """A remote A2A agent the model may call as a tool of this name: the tool sends it a
    message and answers with the remote task's result."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9]{0,19}$",
        description="the tool's name; not a built-in tool's, nor one of this definition's MCP "
        "servers'",
        json_schema_extra=_not_a_tool_name,
    )
    card_url: A2aCardUrl
    headers: McpHeaders = Field(
        default_factory=dict,
        max_length=MAX_MCP_HEADERS,
        description="sent with every request to the agent (a credential's value only to the "
        "hosts it allows)",
    )
    requires_approval: bool = Field(
        default=False, description="each call waits for a person's decision"
    )

    _secret_headers = field_validator("headers")(check_secret_headers)

    @field_validator("name")
    @classmethod
    def _not_a_tool(cls, name: str) -> str:
        from core.tools.registry import TOOL_SPECS

        if name in TOOL_SPECS:
            raise ValueError(f"{name!r} is a built-in tool's name")
        return name

    @property
    def endpoint(self) -> str:
        return self.card_url

    @property
    def label(self) -> str:
        return f"A2A agent {self.name}"

    def credential_names(self) -> set[str]:
        return {v.credential for v in self.headers.values() if isinstance(v, CredentialHeader)}


def _deployment_timeout(schema: dict[str, Any]) -> None:
    """The document states this deployment's longest run (MAX_EXECUTION_TIMEOUT_S), which
    saving a definition holds it to (core.services.agents)."""
    from core.config import get_settings

    schema["maximum"] = min(schema.get("maximum", 3600), get_settings().max_execution_timeout_s)


class Limits(_Strict):
    max_requests: int = Field(default=20, ge=1, le=200)
    max_tool_calls: int = Field(default=50, ge=0, le=1000)
    max_total_tokens: int = Field(default=200_000, ge=100, le=10_000_000)
    timeout_s: float = Field(
        default=300,
        gt=0,
        le=3600,
        description="seconds; at most MAX_EXECUTION_TIMEOUT_S of this deployment",
        json_schema_extra=_deployment_timeout,
    )


class WorkflowSpec(_Strict):
    type: Literal["sequential", "parallel", "loop"]
    steps: list[uuid.UUID] = Field(min_length=1, max_length=20)
    max_iterations: int = Field(default=5, ge=1, le=50)


def _each_tool_once(schema: dict[str, Any]) -> None:
    from core.tools.registry import TOOL_SPECS

    schema["allOf"] = [
        {
            "contains": {"required": ["name"], "properties": {"name": {"const": name}}},
            "minContains": 0,
            "maxContains": 1,
        }
        for name in sorted(TOOL_SPECS)
    ]


# a Gemini model that cannot take native search beside other tools (gemini_combines_tools)
OLDER_GEMINI = r"gemini-1|gemini-2\.|gemma|^gemini-pro$"


def _gemini_search_rules(schema: dict[str, Any]) -> None:
    """What _native_search_problems refuses, as JSON Schema: with a Gemini model (first or a
    fallback) the enabled web_search takes none of Claude's settings, and with an older Gemini
    it comes alone (no other enabled tool, no MCP server)."""

    def uses(model: dict[str, Any]) -> dict[str, Any]:
        provider = {"provider": {"const": "google-vertex"}}
        return {
            "required": ["model"],
            "properties": {
                "model": {
                    "anyOf": [
                        {"required": ["provider"], "properties": {**provider, **model}},
                        {
                            "required": ["fallback"],
                            "properties": {
                                "fallback": {
                                    "contains": {
                                        "required": ["provider"],
                                        "properties": {**provider, **model},
                                    }
                                }
                            },
                        },
                    ]
                }
            },
        }

    enabled: dict[str, Any] = {"enabled": {"const": True}}
    enabled_search = {
        "required": ["name"],
        "properties": {"name": {"const": "web_search"}, **enabled},
    }
    no_settings = {
        "properties": {setting: {"type": "null"} for setting in GEMINI_UNSUPPORTED_SEARCH_SETTINGS}
    }
    other_tool = {
        "required": ["name"],
        "properties": {"name": {"not": {"const": "web_search"}}, **enabled},
    }
    schema.setdefault("allOf", []).extend(
        [
            {
                "if": uses({}),
                "then": {
                    "properties": {
                        "tools": {
                            "items": {
                                "if": enabled_search,
                                "then": {"properties": {"config": no_settings}},
                            }
                        }
                    }
                },
            },
            {
                "if": uses({"name": {"type": "string", "pattern": OLDER_GEMINI}}),
                "then": {
                    "not": {
                        "allOf": [
                            {
                                "required": ["tools"],
                                "properties": {"tools": {"contains": enabled_search}},
                            },
                            {
                                "anyOf": [
                                    {
                                        "required": ["tools"],
                                        "properties": {"tools": {"contains": other_tool}},
                                    },
                                    {
                                        "required": ["mcp_servers"],
                                        "properties": {"mcp_servers": {"minItems": 1}},
                                    },
                                    {
                                        "required": ["a2a_agents"],
                                        "properties": {"a2a_agents": {"minItems": 1}},
                                    },
                                ]
                            },
                        ]
                    }
                },
            },
        ]
    )


MAX_KNOWLEDGE_BASES = 10


class KnowledgeRef(_Strict):
    """A knowledge base of the agent's owner that its `knowledge_search` tool reads."""

    knowledge_base_id: uuid.UUID = Field(description="one of your knowledge bases")
    top_k: int = Field(default=5, ge=1, le=20, description="passages one search returns")


class MemorySpec(_Strict):
    """What the agent remembers about each person who talks to it (their memories, not the
    owner's): the memory_save and memory_search tools, and the most relevant memories recalled
    into its instructions at the start of every run."""

    enabled: bool = False
    recall_tokens: int = Field(
        default=500, ge=0, le=4000, description="memories recalled at start, in tokens at most"
    )
    extract: bool = Field(
        default=False,
        description="after each session turn, the agent's model proposes durable facts from it "
        "(in the background)",
    )


class ContextSpec(_Strict):
    """How much of a session's history the model is sent. Past the budget, the oldest turns are
    folded (whole turns: a tool call and its result stay together) into a running summary kept
    with the session (`summarize`, a model call counted in the turn's usage) or dropped
    (`truncate`). The event log keeps every turn either way."""

    max_history_tokens: int = Field(ge=200, le=1_000_000, description="tokens of earlier turns")
    strategy: Literal["summarize", "truncate"] = "summarize"


class AgentDefinition(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_gemini_search_rules)

    model: ModelSpec = Field(default_factory=lambda: ModelSpec(provider="test", name="test"))
    system_prompt: str = Field(default="", max_length=MAX_SYSTEM_PROMPT)
    tools: list[ToolRef] = Field(
        default_factory=list,
        max_length=MAX_TOOLS,
        description="each tool once (by name)",
        json_schema_extra=_each_tool_once,
    )
    output_schema: dict[str, Any] | None = Field(
        default=None,
        description="a JSON Schema (2020-12) of an object: the run's output follows it",
        json_schema_extra={
            "anyOf": [
                {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"const": "object"}},
                    # a schema nests as deep as its output does: not free-form JSON's levels
                    "additionalProperties": NESTS_FREELY,
                },
                {"type": "null"},
            ]
        },
    )
    mcp_servers: list[McpServerSpec] = Field(
        default_factory=list,
        max_length=MAX_MCP_SERVERS,
        description="MCP servers whose tools the agent may call; each name once",
    )
    a2a_agents: list[A2aAgentSpec] = Field(
        default_factory=list,
        max_length=MAX_A2A_AGENTS,
        description="remote A2A agents the model may call as tools; each name once",
    )
    knowledge: list[KnowledgeRef] = Field(
        default_factory=list,
        max_length=MAX_KNOWLEDGE_BASES,
        description="knowledge bases (yours) the agent searches with its knowledge_search tool; "
        "anyone who may execute the agent searches them through it, never directly",
    )
    memory: MemorySpec = Field(default_factory=MemorySpec)
    context: ContextSpec | None = Field(
        default=None, description="a budget for the session history sent (default: all of it)"
    )
    limits: Limits = Field(default_factory=Limits)
    workflow: WorkflowSpec | None = None

    @field_validator("knowledge")
    @classmethod
    def _knowledge_bases_once(cls, refs: list[KnowledgeRef]) -> list[KnowledgeRef]:
        ids = [ref.knowledge_base_id for ref in refs]
        if len(set(ids)) != len(ids):
            raise ValueError("each knowledge base may appear once")
        return refs

    @field_validator("tools")
    @classmethod
    def _tool_names_unique(cls, tools: list[ToolRef]) -> list[ToolRef]:
        names = [tool.name for tool in tools]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"each tool may appear once; repeated: {', '.join(duplicates)}")
        return tools

    @field_validator("mcp_servers")
    @classmethod
    def _server_names_unique(cls, servers: list[McpServerSpec]) -> list[McpServerSpec]:
        from core.tools.registry import TOOL_SPECS

        names = [server.name for server in servers]  # each once: check_definition (409)
        for name in names:
            reserved = [*TOOL_SPECS, KNOWLEDGE_SEARCH, *MEMORY_TOOLS]
            clash = next((tool for tool in reserved if tool.startswith(f"{name}_")), None)
            if clash is not None:
                raise ValueError(f"MCP server name {name!r} would clash with the {clash} tool")
        return servers

    def remotes(self) -> list[McpServerSpec | A2aAgentSpec]:
        """Where the agent's calls go out: its MCP servers and remote A2A agents."""
        return [*self.mcp_servers, *self.a2a_agents]

    def credential_names(self) -> set[str]:
        """The credentials the agent's MCP servers and A2A agents take header values from."""
        return {name for remote in self.remotes() for name in remote.credential_names()}

    def needs_approvals(self) -> bool:
        return any(t.requires_approval for t in self.enabled_tools()) or any(
            remote.requires_approval for remote in self.remotes()
        )

    @field_validator("output_schema")
    @classmethod
    def _output_schema_is_an_object_schema(cls, schema: dict[str, Any] | None) -> Any:
        if schema is None:
            return None
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        if schema.get("type") != "object":
            raise ValueError('the output schema must describe an object ("type": "object")')
        return schema

    def enabled_tools(self) -> list[ToolRef]:
        return [tool for tool in self.tools if tool.enabled]


def check_definition(
    definition: AgentDefinition, *, loc: tuple[str | int, ...] = ("body", "definition")
) -> dict[str, BaseModel]:
    """Validate every tool reference against the registry; return the parsed configs by name.
    Raises Invalid (422) naming each bad field's path."""
    from core.tools.registry import parse_tool_config

    problems: list[dict[str, Any]] = []
    configs: dict[str, BaseModel] = {}
    for index, tool in enumerate(definition.tools):
        here = [*loc, "tools", index]
        try:
            configs[tool.name] = parse_tool_config(tool.name, tool.config)
        except KeyError:
            problems.append(
                field_error([*here, "name"], f"unknown tool {tool.name!r}", "unknown_tool")
            )
        except ValidationError as exc:
            problems += [
                field_error([*here, "config", *err["loc"]], err["msg"], err["type"])
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
    problems += _native_search_problems(definition, loc)
    problems += [
        field_error(
            [*loc, "tools", index, "requires_approval"],
            "web_search runs at the model provider: it cannot wait for approval",
            "unsupported_by_tool",
        )
        for index, tool in enumerate(definition.tools)
        if tool.requires_approval and tool.name in _NATIVE_TOOLS
    ]
    if problems:
        raise Invalid("invalid agent definition", details=problems)
    _each_server_name_once(definition, loc)
    return configs


def _each_server_name_once(definition: AgentDefinition, loc: tuple[str | int, ...]) -> None:
    """Two MCP servers of one name would offer their tools under the same names, and an A2A
    agent named as a server would be read as one: a conflict within the definition, which
    JSON Schema cannot state (409, where a schema rule is 422)."""
    places = [("mcp_servers", i, s.name) for i, s in enumerate(definition.mcp_servers)]
    places += [("a2a_agents", i, a.name) for i, a in enumerate(definition.a2a_agents)]
    names = [name for _, _, name in places]
    repeated = [
        field_error(
            [*loc, field, index, "name"], f"{name!r} names another server or agent", "taken"
        )
        for at, (field, index, name) in enumerate(places)
        if name in names[:at]
    ]
    if repeated:
        raise Conflict(
            "each MCP server and A2A agent name may appear once in a definition",
            code="mcp_server_name_taken",
            details=repeated,
        )


_NATIVE_TOOLS = ("web_search",)

# web_search settings Gemini refuses (pydantic-ai raises UserError for each on every Gemini)
GEMINI_UNSUPPORTED_SEARCH_SETTINGS = ("max_uses", "allowed_domains", "blocked_domains")


def gemini_combines_tools(name: str) -> bool:
    """Whether a Gemini model takes native search together with function tools: Gemini 3 and
    newer do; 2.5 and older refuse (pydantic-ai's google profile, `is_older_gemini`)."""
    is_2_5 = "gemini-2.5" in name
    older = is_2_5 or "gemini-1" in name or "gemini-2." in name or name == "gemini-pro"
    return not older and "gemma" not in name


def _native_search_problems(
    definition: AgentDefinition, loc: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    """What Gemini's native search cannot do, refused here rather than failing every run."""
    index = next(
        (
            i
            for i, tool in enumerate(definition.tools)
            if tool.name == "web_search" and tool.enabled
        ),
        None,
    )
    if index is None:
        return []
    here = [*loc, "tools", index]
    refs = [definition.model, *definition.model.fallback]
    geminis = [ref.name for ref in refs if ref.provider == "google-vertex"]
    if not geminis:
        return []
    problems = [
        field_error(
            [*here, "config", setting],
            f"not supported by Gemini's search ({geminis[0]}): leave it out",
            "unsupported_by_model",
        )
        for setting in GEMINI_UNSUPPORTED_SEARCH_SETTINGS
        if definition.tools[index].config.get(setting) is not None
    ]
    older = [name for name in geminis if not gemini_combines_tools(name)]
    others = [tool.name for tool in definition.enabled_tools() if tool.name != "web_search"]
    others += [remote.label for remote in definition.remotes()]
    if older and others:
        problems.append(
            field_error(
                [*here, "name"],
                f"{older[0]} cannot use web_search together with other tools "
                f"({', '.join(others)}): use a Gemini 3 model, or web_search alone",
                "unsupported_by_model",
            )
        )
    return problems


def parse_definition(raw: Any, *, loc: tuple[str | int, ...] = ("definition",)) -> AgentDefinition:
    """A stored definition (JSONB) back into the model; stored ones were valid when written."""
    try:
        return AgentDefinition.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(
            "invalid agent definition",
            details=[
                field_error([*loc, *err["loc"]], err["msg"], err["type"])
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ],
        ) from None
