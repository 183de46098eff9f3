"""The latest definition this instance has seen of each agent, kept process-wide.

A version's definition never changes (every change is a new version), so a run started by a
statement that reads the agent's current version itself (execution_rows.insert_checked_execution)
needs the definition from the database only when that version is new here, and validates it once.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

from core.definition import AgentDefinition

MAX_KEPT_AGENTS = 1024

_lock = threading.Lock()
_latest: OrderedDict[uuid.UUID, tuple[str, AgentDefinition]] = OrderedDict()


def latest(agent_id: uuid.UUID) -> tuple[str, AgentDefinition] | None:
    """(version, definition) of the agent as last seen here, if it was."""
    with _lock:
        kept = _latest.get(agent_id)
        if kept is not None:
            _latest.move_to_end(agent_id)
        return kept


def remember(agent_id: uuid.UUID, version: str, definition: AgentDefinition) -> None:
    with _lock:
        _latest[agent_id] = (version, definition)
        _latest.move_to_end(agent_id)
        while len(_latest) > MAX_KEPT_AGENTS:
            _latest.popitem(last=False)
