"""The rules an agent's MCP servers follow when a definition is saved: a URL the egress rules
accept (host names are resolved and checked again at every connect), and credentials the saving
user has. Light: no MCP client is loaded."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from core.agents.definition import AgentDefinition, CredentialHeader
from core.config import Settings
from core.egress import EgressPolicy, check_url
from core.errors import Invalid, field_error


def mcp_policy(settings: Settings, field: tuple[str | int, ...] = ("url",)) -> EgressPolicy:
    return EgressPolicy(EgressPolicy.hosts(settings.mcp_allowed_hosts), "the MCP server url", field)


def check_mcp_servers(
    definition: AgentDefinition,
    settings: Settings,
    *,
    credentials: Set[str],
    loc: tuple[str | int, ...],
) -> None:
    """Raise Invalid (422) naming each server URL the egress rules refuse and each header
    credential the saving user does not have (`credentials`: the names they have)."""
    problems: list[dict[str, Any]] = []
    for index, server in enumerate(definition.mcp_servers):
        here = (*loc, "mcp_servers", index)
        try:
            check_url(server.url, mcp_policy(settings, (*here, "url")), resolve=False)
        except Invalid as exc:
            problems += exc.details
        for header, value in server.headers.items():
            if isinstance(value, CredentialHeader) and value.credential not in credentials:
                problems.append(
                    field_error(
                        [*here, "headers", header, "credential"],
                        f"you have no credential named {value.credential!r} (POST /credentials)",
                        "unknown_credential",
                    )
                )
    if problems:
        raise Invalid("invalid agent definition", details=problems)
