"""What each built-in tool's configuration may say, and the limits it is held to. Pydantic
only: the registry validates with these, the tools read their limits from them."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MiB = 1 << 20

READ_MAX_BYTES = 1 * MiB
WRITE_MAX_BYTES = 10 * MiB
GREP_MAX_MATCHES = 200
GREP_TIMEOUT_SECONDS = 1.0
GREP_MAX_FILE_BYTES = 2 * MiB
GREP_MAX_TOTAL_BYTES = 20 * MiB
FIND_MAX_RESULTS = 1000
WEB_SEARCH_MAX_USES = 20
WEB_SEARCH_MAX_DOMAINS = 50
# the tool an agent with `knowledge` in its definition has (core.tools.knowledge)
KNOWLEDGE_SEARCH = "knowledge_search"
# the tools an agent whose definition enables memory has (core.tools.memory)
MEMORY_TOOLS = ("memory_save", "memory_search")


class ToolConfig(BaseModel):
    """Base of every tool's configuration: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileReadConfig(ToolConfig):
    # at least a few characters, so that every call makes progress through a UTF-8 file
    max_bytes: int = Field(
        default=READ_MAX_BYTES,
        ge=64,
        le=READ_MAX_BYTES,
        description="Most bytes returned by one call; longer files are truncated with a note.",
    )


class FileWriteConfig(ToolConfig):
    max_bytes: int = Field(
        default=WRITE_MAX_BYTES,
        ge=1,
        le=WRITE_MAX_BYTES,
        description="Largest file (UTF-8 bytes) one call may write.",
    )


class GrepConfig(ToolConfig):
    max_matches: int = Field(
        default=GREP_MAX_MATCHES, ge=1, le=1000, description="Matching lines reported per call."
    )
    timeout_seconds: float = Field(
        default=GREP_TIMEOUT_SECONDS,
        ge=0.05,
        le=10.0,
        description="Time budget of one call (reading and matching); results are partial after it.",
    )
    max_file_bytes: int = Field(
        default=GREP_MAX_FILE_BYTES,
        ge=1,
        le=GREP_MAX_FILE_BYTES,
        description="Files larger than this are skipped.",
    )
    max_total_bytes: int = Field(
        default=GREP_MAX_TOTAL_BYTES,
        ge=1,
        le=GREP_MAX_TOTAL_BYTES,
        description="Bytes scanned per call, over all files.",
    )


class FindConfig(ToolConfig):
    max_results: int = Field(
        default=FIND_MAX_RESULTS,
        ge=1,
        le=FIND_MAX_RESULTS,
        description="Paths returned per call; a note says when there were more.",
    )


Domain = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$",
    ),
]


class WebSearchConfig(ToolConfig):
    # one domain filter or the other (stated for the document as the validator below holds it)
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "not": {
                "required": ["allowed_domains", "blocked_domains"],
                "properties": {
                    "allowed_domains": {"type": "array"},
                    "blocked_domains": {"type": "array"},
                },
            }
        },
    )

    max_uses: int | None = Field(
        default=None, ge=1, le=WEB_SEARCH_MAX_USES, description="Searches per run (Claude only)."
    )
    allowed_domains: list[Domain] | None = Field(
        default=None,
        min_length=1,
        max_length=WEB_SEARCH_MAX_DOMAINS,
        description="Only return results from these domains.",
    )
    blocked_domains: list[Domain] | None = Field(
        default=None,
        min_length=1,
        max_length=WEB_SEARCH_MAX_DOMAINS,
        description="Never return results from these domains.",
    )

    @model_validator(mode="after")
    def _one_domain_filter(self) -> WebSearchConfig:
        # providers accept one or the other, not both
        if self.allowed_domains is not None and self.blocked_domains is not None:
            raise ValueError("set allowed_domains or blocked_domains, not both")
        return self


class DelegateConfig(ToolConfig):
    agents: list[uuid.UUID] = Field(
        min_length=1, max_length=10, description="The agents this one may call (their ids)."
    )
    max_depth: int = Field(
        default=2, ge=1, le=3, description="How deep delegations may nest (1: no further)."
    )
