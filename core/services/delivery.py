"""How a task's delivery went, as the tasks function answers it to the queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Delivery:
    """How a delivery went: `retry_after_s` set when the queue should bring it back (the tasks
    function answers 503 with Retry-After then, 200 otherwise)."""

    status: str
    error: Any = None
    retry_after_s: int | None = None
