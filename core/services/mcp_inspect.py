"""POST /agents/mcp/inspect: list an MCP server's tools before writing a definition around it,
with the caller's credentials in its headers (only where each may be sent) and the same egress
rules as a run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.config import Settings
from core.credentials import (
    CredentialMissing,
    CredentialUnreadable,
    open_credentials,
    record_sends,
)
from core.definition import CredentialHeader
from core.egress import check_url
from core.errors import Conflict, NotFound, field_error
from core.mcp.servers import guarded_headers, mcp_policy, server_host
from core.models.users import User
from core.schemas.agents import McpInspectRequest


def inspect_mcp_server(
    db: Session, *, user: User, data: McpInspectRequest, settings: Settings, now: datetime
) -> dict[str, Any]:
    from core.agents.loop import run_on_agent_loop
    from core.mcp.toolset import McpUnavailable, inspect_server, resolved_headers

    check_url(data.url, mcp_policy(settings, ("body", "url")))
    wanted = {h: v.credential for h, v in data.headers.items() if isinstance(v, CredentialHeader)}
    try:
        credentials = open_credentials(
            db, user_id=user.id, names=wanted.values(), settings=settings
        )
    except CredentialMissing as exc:
        unreadable = isinstance(exc, CredentialUnreadable)
        # a credential the user lacks is not there (404); one no key opens must be stored again
        # (409: the request is fine, the credential's state is not)
        error = Conflict if unreadable else NotFound
        raise error(
            "the headers name credentials you do not have"
            if not unreadable
            else "the headers name credentials whose values can no longer be read",
            code="credential_unreadable" if unreadable else "credential_not_found",
            details=[
                field_error(
                    ["body", "headers", header, "credential"],
                    f"your credential {name!r} can no longer be read: store it again"
                    if unreadable
                    else f"you have no credential named {name!r}",
                    "credential_unreadable" if unreadable else "unknown_credential",
                )
                for header, name in wanted.items()
                if name in exc.names
            ],
        ) from None
    host = server_host(data.url)
    refused = [
        field_error(
            ["body", "headers", header, "credential"],
            credentials[name].refusal(host),
            "credential_host_not_allowed",
        )
        for header, name in wanted.items()
        if not credentials[name].allows(host)
    ]
    if refused:
        raise Conflict(
            "a credential the headers name may not be sent to this host",
            code="credential_host_not_allowed",
            details=refused,
        )
    headers = resolved_headers(data.headers, credentials)
    # the connection goes back to the pool before the network call (it may take the connect
    # and call timeouts)
    db.commit()
    guard = guarded_headers(data.headers, credentials)
    try:
        tools = run_on_agent_loop(
            inspect_server(data.url, data.transport, headers, settings, guard=guard)
        )
    except McpUnavailable as exc:  # nothing that speaks MCP there (now): not found
        raise NotFound(
            str(exc),
            code="mcp_unavailable",
            details=[field_error(["body", "url"], str(exc), "mcp_unavailable")],
        ) from None
    if credentials:
        record_sends(
            db,
            credential_ids=[c.id for c in credentials.values()],
            agent_id=None,
            host=host,
            execution_id=None,
            now=now,
        )
    return {
        "tools": [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools
        ]
    }
