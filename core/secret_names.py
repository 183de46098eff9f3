"""Which names (tool settings, HTTP headers) hold secrets: one rule for the marketplace's
snapshots and for the MCP headers a definition may give a plain value."""

from __future__ import annotations

import re

# names of settings that hold credentials; matched on the key in snake case (apiKey → api_key).
# Erring towards removal is safe: a removed value falls back to the tool's default.
_SECRET_KEY = re.compile(
    r"api_?key|secret|passw(or)?d|passphrase|credential|private_?key|access_?key|signing_?key|"
    r"token(?!s|iz)|authori[sz]ation|authentication|bearer|cookie|session_?id|dsn|"
    r"connection_?string|(^|_)(auth|pass|pwd|key)($|_)"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(key: str) -> bool:
    normalized = re.sub(r"[^a-z0-9]+", "_", _CAMEL.sub("_", key).lower())
    return _SECRET_KEY.search(normalized) is not None
