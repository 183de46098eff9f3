"""A route's result that carries an HTTP status or headers other than the route's defaults
(e.g. 202 with a Location). Services return domain values; functions/ and core/http turn them
into replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
