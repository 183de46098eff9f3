"""Typed SQLAlchemy models: one module per concept, all registered on Base.metadata."""

from core.models.agents import (
    Agent,
    AgentPermission,
    AgentScope,
    AgentType,
    AgentVersion,
    PermissionLevel,
)
from core.models.base import Base
from core.models.executions import (
    AgentExecution,
    ExecutionMode,
    ExecutionStatus,
    ObservabilityTrace,
    WorkflowType,
)
from core.models.marketplace import Listing, ListingStatus, Rating
from core.models.sessions import AgentSession, Artifact, Event, EventType, SessionStatus
from core.models.users import LoginFailure, RefreshToken, Role, User

__all__ = [
    "Agent",
    "AgentExecution",
    "AgentPermission",
    "AgentScope",
    "AgentSession",
    "AgentType",
    "AgentVersion",
    "Artifact",
    "Base",
    "Event",
    "EventType",
    "ExecutionMode",
    "ExecutionStatus",
    "Listing",
    "ListingStatus",
    "LoginFailure",
    "ObservabilityTrace",
    "PermissionLevel",
    "Rating",
    "RefreshToken",
    "Role",
    "SessionStatus",
    "User",
    "WorkflowType",
]
