"""The rules an agent's MCP servers and remote A2A agents (its remotes) follow: a URL the egress
rules accept (host names are resolved and checked again at every connect), credentials the
saving user has, and credentials that go only to hosts their owner allows. Light: no MCP or
HTTP client is loaded."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.config import Settings
from core.credentials import OpenedCredential
from core.definition import A2aAgentSpec, AgentDefinition, CredentialHeader, McpServerSpec
from core.egress import EgressPolicy, check_url, host_allowed, normalized_host
from core.errors import Conflict, Invalid, NotFound, field_error

Remote = McpServerSpec | A2aAgentSpec


@dataclass(frozen=True)
class SkippedServer:
    """An MCP server or A2A agent a run leaves out: code `credential_host_not_allowed`, and
    why. `kind` names it in its event: `server` (MCP) or `agent` (A2A)."""

    server: str
    host: str
    credentials: tuple[str, ...]
    message: str
    code: str = "credential_host_not_allowed"
    kind: str = "server"

    def event(self) -> dict[str, Any]:
        return {
            self.kind: self.server,
            "host": self.host,
            "credentials": list(self.credentials),
            "code": self.code,
            "message": self.message,
        }


def server_host(url: str) -> str:
    return normalized_host(urlsplit(url).hostname or "")


def credential_refusals(
    spec: Remote, credentials: Mapping[str, OpenedCredential]
) -> SkippedServer | None:
    """Why this remote may not be given the credentials its headers name, if it may not."""
    host = server_host(spec.endpoint)
    refused = [
        credentials[name]
        for name in sorted(spec.credential_names())
        if name in credentials and not credentials[name].allows(host)
    ]
    if not refused:
        return None
    return SkippedServer(
        server=spec.name,
        host=host,
        credentials=tuple(c.name for c in refused),
        message=f"{spec.label} was left out of this run: "
        + "; ".join(c.refusal(host) for c in refused),
        kind="agent" if isinstance(spec, A2aAgentSpec) else "server",
    )


def guarded_headers(
    spec_headers: Mapping[str, str | CredentialHeader],
    credentials: Mapping[str, OpenedCredential],
) -> dict[str, OpenedCredential]:
    """Header name (lower case) → the credential its value comes from: such a header goes to
    no host the credential does not allow, whatever redirects say."""
    return {
        name.lower(): credentials[value.credential]
        for name, value in spec_headers.items()
        if isinstance(value, CredentialHeader) and value.credential in credentials
    }


def mcp_policy(settings: Settings, field: tuple[str | int, ...] = ("url",)) -> EgressPolicy:
    return EgressPolicy(EgressPolicy.hosts(settings.mcp_allowed_hosts), "the MCP server url", field)


def a2a_policy(settings: Settings, field: tuple[str | int, ...] = ("card_url",)) -> EgressPolicy:
    return EgressPolicy(
        EgressPolicy.hosts(settings.a2a_allowed_hosts), "the A2A agent card url", field
    )


def _remote_places(
    definition: AgentDefinition, settings: Settings, loc: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], Remote, EgressPolicy]]:
    """Each remote with its path in the definition and the egress rules of its URL field."""
    places: list[tuple[tuple[str | int, ...], Remote, EgressPolicy]] = []
    for index, server in enumerate(definition.mcp_servers):
        here = (*loc, "mcp_servers", index)
        places.append((here, server, mcp_policy(settings, (*here, "url"))))
    for index, agent in enumerate(definition.a2a_agents):
        here = (*loc, "a2a_agents", index)
        places.append((here, agent, a2a_policy(settings, (*here, "card_url"))))
    return places


def check_remotes(
    definition: AgentDefinition,
    settings: Settings,
    *,
    credentials: Mapping[str, tuple[str, ...]],
    loc: tuple[str | int, ...],
) -> None:
    """Raise naming each problem of the MCP servers and A2A agents: a URL the egress rules
    refuse (422), a header credential the saving user does not have (404), one the user's
    credential may not be sent to (409; `credentials`: their names, with the hosts each
    allows). The status is the first kind found in that order."""
    refused_urls: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    misplaced: list[dict[str, Any]] = []
    for here, server, policy in _remote_places(definition, settings, loc):
        try:
            check_url(server.endpoint, policy, resolve=False)
        except Invalid as exc:
            refused_urls += exc.details
            host = ""  # a refused URL is one problem; where credentials may go waits for a good one
        else:
            host = server_host(server.endpoint)
        for header, value in server.headers.items():
            if not isinstance(value, CredentialHeader):
                continue
            where = [*here, "headers", header, "credential"]
            if value.credential not in credentials:
                missing.append(
                    field_error(
                        where,
                        f"you have no credential named {value.credential!r} (POST /credentials)",
                        "unknown_credential",
                    )
                )
                continue
            hosts = credentials[value.credential]
            if host and not host_allowed(host, hosts):
                opened = OpenedCredential(uuid.UUID(int=0), value.credential, "", hosts)
                misplaced.append(
                    field_error(where, opened.refusal(host), "credential_host_not_allowed")
                )
    problems = refused_urls + missing + misplaced
    if refused_urls:
        raise Invalid("invalid agent definition", details=problems)
    if missing:
        raise NotFound(
            "the definition names credentials you do not have",
            code="credential_not_found",
            details=problems,
        )
    if misplaced:
        raise Conflict(
            "a credential the definition names may not be sent to its server's or agent's host: "
            "add the "
            "host to the credential's allowed_hosts (PATCH /credentials/{id}), or use another",
            code="credential_host_not_allowed",
            details=problems,
        )
