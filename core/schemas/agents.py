"""API schemas of agents, their versions and permissions."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from core.definition import (
    MAX_MCP_HEADERS,
    AgentDefinition,
    McpHeaders,
    McpTransport,
    McpUrl,
    ModelSpec,
    check_secret_headers,
)
from core.egress import PUBLIC_URL_PATTERN
from core.models.agents import AgentKind, AgentScope, AgentType, PermissionLevel
from core.schemas.common import (
    PageQuery,
    RequestModel,
    ResponseModel,
    absent_not_null,
    cursor_field,
    within_free_json_levels,
)
from core.schemas.content import PARTS_SCHEMA
from core.schemas.users import Username

METADATA_MAX_BYTES = 16 * 1024


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > METADATA_MAX_BYTES:
        raise ValueError(f"metadata is limited to {METADATA_MAX_BYTES} bytes of JSON")
    return value


AgentName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="letters, digits, _ . and -, starting with a letter or digit; unique among "
        "your agents",
    ),
]
DisplayName = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
Metadata = Annotated[
    dict[str, Any], AfterValidator(_bounded_metadata), AfterValidator(within_free_json_levels)
]
VersionString = Annotated[str, Field(min_length=5, max_length=32, pattern=r"^\d+\.\d+\.\d+$")]


# checked by core.webhooks (also that the host resolves to public addresses); the pattern says
# what needs no DNS
WebhookUrl = Annotated[
    str,
    Field(
        max_length=2000,
        description="https to a host name (not an address); the name must not resolve to a "
        "private address (else 422) and must resolve (else 404); checked again at each delivery",
        json_schema_extra={"pattern": PUBLIC_URL_PATTERN},
    ),
]


def _one_source(schema: dict[str, Any], model: type[BaseModel]) -> None:
    absent_not_null(schema, model)
    schema["oneOf"] = [
        {"required": ["definition", "display_name"], "not": {"required": ["from_template"]}},
        {"required": ["from_template"], "not": {"required": ["definition"]}},
    ]
    schema["dependentRequired"] = {"model": ["from_template"]}
    schema["examples"] = [
        {
            "name": "summarizer",
            "display_name": "Summarizer",
            "definition": {
                "model": {"provider": "test", "name": "test"},
                "system_prompt": "Summarize what you are given in three sentences.",
                "limits": {"max_requests": 5, "timeout_s": 60},
            },
        }
    ]


class AgentCreate(RequestModel):
    """Either a `definition`, or `from_template` (a template's id, GET /agents/templates) whose
    definition the new agent takes, optionally on another `model`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_one_source,
    )
    NOT_NULL = ("display_name", "definition", "from_template", "model")

    name: AgentName
    display_name: DisplayName | None = Field(
        default=None, description="required with a definition; a template's by default"
    )
    description: Description = ""
    definition: AgentDefinition | None = None
    from_template: uuid.UUID | None = None
    model: ModelSpec | None = Field(
        default=None, description="with from_template: run the template's definition on this model"
    )
    scope: AgentScope = Field(
        default=AgentScope.private, description="system agents are created by admins only"
    )
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> AgentCreate:
        if (self.definition is None) == (self.from_template is None):
            raise ValueError("give either a definition or from_template")
        if self.definition is not None and self.display_name is None:
            raise ValueError("display_name is required with a definition")
        if self.model is not None and self.from_template is None:
            raise ValueError("model goes with from_template (a definition names its own)")
        return self


class AgentUpdate(RequestModel):
    display_name: DisplayName | None = None
    description: Description | None = None
    definition: AgentDefinition | None = Field(
        default=None, description="a new definition is stored as a new version"
    )
    scope: AgentScope | None = None
    metadata: Metadata | None = None
    is_active: bool | None = None
    is_template: bool | None = Field(
        default=None, description="admins only: offer this agent as a template to everyone"
    )
    change_note: str = Field(default="", max_length=500)


class AgentPublic(ResponseModel):
    id: uuid.UUID
    name: str
    display_name: str
    description: str
    owner_id: uuid.UUID
    scope: AgentScope
    agent_type: AgentType
    agent_kind: AgentKind
    is_template: bool
    version: str
    definition: dict[str, Any]
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    is_active: bool
    created_at: datetime
    updated_at: datetime


class VersionsQuery(PageQuery):
    """Newest first by version number: a cursor is major_minor_patch."""

    cursor: str | None = cursor_field("number", "number", "number")


class AgentsQuery(PageQuery):
    q: str | None = Field(default=None, max_length=100, description="name or description contains")
    scope: AgentScope | None = None
    owned: bool | None = Field(default=None, description="true: only the caller's own agents")


class AgentVersionPublic(ResponseModel):
    version: str
    definition: dict[str, Any]
    change_note: str
    created_by: uuid.UUID | None
    created_at: datetime


class RollbackRequest(RequestModel):
    version: VersionString


class PermissionGrant(RequestModel):
    level: PermissionLevel


class PermissionShare(PermissionGrant):
    """Share with a user named by their username."""

    username: Username


class PermissionPublic(ResponseModel):
    user_id: uuid.UUID
    username: str
    level: PermissionLevel
    granted_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ProviderCatalogEntry(ResponseModel):
    name: str
    description: str
    configured: bool
    models: list[str]
    native_web_search: bool


class ToolCatalogEntry(ResponseModel):
    name: str
    description: str
    config_schema: dict[str, Any]


class McpCatalogEntry(ResponseModel):
    available: bool
    transports: list[str]
    allowed_hosts: list[str] = Field(
        description="hosts exempt from the public-https rule on this deployment"
    )
    approvals: bool = Field(description="tools may require a person's approval")


class Catalog(ResponseModel):
    providers: list[ProviderCatalogEntry]
    tools: list[ToolCatalogEntry]
    mcp: McpCatalogEntry


class McpInspectRequest(RequestModel):
    url: McpUrl
    transport: McpTransport = "streamable-http"
    headers: McpHeaders = Field(default_factory=dict, max_length=MAX_MCP_HEADERS)

    _secret_headers = field_validator("headers")(check_secret_headers)


class McpToolPublic(ResponseModel):
    name: str
    description: str | None
    input_schema: dict[str, Any]


class McpInspection(ResponseModel):
    tools: list[McpToolPublic]


def _prompt_or_object(value: Any) -> Any:
    if isinstance(value, list):
        from core.schemas.content import content_parts

        return [part.model_dump(mode="json") for part in content_parts(value)]
    if not isinstance(value, str | dict):
        raise ValueError("input must be a string, a JSON object or a list of content parts")
    return within_free_json_levels(value) if isinstance(value, dict) else value


# one error at `input` itself instead of one per union member ("input.str", "input.dict[...]")
PromptInput = Annotated[
    Any,
    AfterValidator(_prompt_or_object),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "object"}, PARTS_SCHEMA]}),
]


def _execute_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    absent_not_null(schema, model)
    schema["examples"] = [{"input": "Summarize: the meeting moved to Friday.", "mode": "sync"}]


class ExecuteRequest(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_execute_schema,
    )
    NOT_NULL = ("session_id", "idempotency_key", "webhook_url")

    input: PromptInput = Field(
        description="the user prompt, a JSON object sent as JSON, or a list of content parts "
        "(text, and artifacts: images, PDFs and text files go to the model as files)"
    )
    session_id: uuid.UUID | None = None
    mode: Literal["sync", "async"] = "sync"
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"
    )
    webhook_url: WebhookUrl | None = None
