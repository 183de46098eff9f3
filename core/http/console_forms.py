"""The rules of the console's forms, taken from the request models the API validates with:
each field's length limits, pattern and description, and which fields are required. The console
checks a form with them before it sends it (console/src/forms.json, written by
`python -m core.http.console_forms`; a test keeps the two equal)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

KEPT = ("type", "minLength", "maxLength", "pattern", "description")


def _field(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf", [schema])
    text = next((o for o in options if o.get("type") == "string"), schema)
    return {key: text[key] for key in KEPT if key in text} | (
        {"description": schema["description"]} if "description" in schema else {}
    )


def console_forms() -> dict[str, Any]:
    from core.schemas.agents import AgentCreate, PermissionShare
    from core.schemas.users import RegisterRequest

    forms: dict[str, type[BaseModel]] = {
        "register": RegisterRequest,
        "agent": AgentCreate,
        "share": PermissionShare,
    }
    out: dict[str, Any] = {}
    for name, model in forms.items():
        schema = model.model_json_schema()
        out[name] = {
            "required": sorted(schema.get("required", [])),
            "fields": {
                field: _field(prop)
                for field, prop in schema["properties"].items()
                if "string" in json.dumps(prop.get("anyOf", prop.get("type", "")))
            },
        }
    return out


if __name__ == "__main__":
    print(json.dumps(console_forms(), indent=2, sort_keys=True))
