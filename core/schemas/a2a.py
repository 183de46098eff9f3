"""The A2A agent card as /a2a serves it: public metadata only, in the A2A protobuf types' JSON
form (camelCase), as a2a-sdk's card resolver reads it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.schemas.common import ResponseModel


class A2aAgentCard(ResponseModel):
    name: str
    description: str
    version: str
    supportedInterfaces: list[dict[str, str]] = Field(
        description="{url, protocolBinding: JSONRPC, protocolVersion: 1.0}"
    )
    capabilities: dict[str, bool]
    defaultInputModes: list[str]
    defaultOutputModes: list[str]
    skills: list[dict[str, Any]] = Field(description="{id, name, description, tags}")
    securitySchemes: dict[str, Any]
    securityRequirements: list[dict[str, Any]]
