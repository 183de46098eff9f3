"""A pydantic model's JSON schema made to stand inside another document: its `$defs` written
out in place, and its discriminated unions said in JSON Schema alone (each branch requires its
tag: the discriminator's mapping names `$defs` that are gone)."""

from __future__ import annotations

from typing import Any

# what a schema says of an object's other keys when they nest as deep as the body allows (an
# output schema's keywords); the document spells its first levels out without a NUL
NESTS_FREELY: dict[str, Any] = {
    "description": "any JSON: no NUL, nested as deep as the body allows"
}


def standalone(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.rsplit("/", 1)[1]
                if name in seen:  # recursive: below here anything goes in the document
                    return {}
                return walk(defs[name], (*seen, name))
            return {key: walk(value, seen) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, seen) for value in node]
        return node

    return dict(_tags_required(walk(schema, ())))


def _tags_required(node: Any) -> Any:
    if isinstance(node, list):
        return [_tags_required(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _tags_required(value) for key, value in node.items()}
    discriminator = node.pop("discriminator", None)
    if isinstance(discriminator, dict):
        tag = discriminator["propertyName"]
        for branch in node.get("oneOf", []):
            if tag not in branch.get("required", []):
                branch["required"] = [*branch.get("required", []), tag]
    return node


def free_form_too_deep(schema: Any, value: Any, levels: int) -> list[list[str | int]]:
    """Where `value` (valid against `schema`) holds free-form JSON, a value the schema leaves
    open (an object's extra keys, a map's values), nested more than `levels` arrays or objects
    deep: the paths, as the document states free-form JSON (core.http.openapi)."""
    found: list[list[str | int]] = []

    def open_value(item: Any, path: list[str | int]) -> None:
        if json_nesting(item) > levels:
            found.append(path)

    def walk(node: Any, item: Any, path: list[str | int]) -> None:
        if not isinstance(node, dict):
            return
        if node == {}:
            open_value(item, path)
            return
        branches = [b for key in ("anyOf", "oneOf", "allOf") for b in node.get(key, [])]
        if branches:
            for branch in branches:
                if _fits_type(branch, item):
                    walk(branch, item, path)
                    return
            return
        if isinstance(item, dict):
            properties = node.get("properties", {})
            extra = node.get("additionalProperties", True)
            for key, child in item.items():
                if key in properties:
                    walk(properties[key], child, [*path, key])
                elif extra is True or extra == {}:
                    open_value(child, [*path, key])
                else:
                    walk(extra, child, [*path, key])
        elif isinstance(item, list):
            for index, child in enumerate(item):
                walk(node.get("items", {}), child, [*path, index])

    walk(schema, value, [])
    return found


def json_nesting(value: Any) -> int:
    """Arrays and objects one inside the other: 0 for a scalar, 1 for `{}` or `[1]`, 2 for
    `{"a": [1]}` (iterative: a body may nest far deeper than Python recurses)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            children = item.values() if isinstance(item, dict) else item
            pending += [(child, depth + 1) for child in children]
    return deepest


_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _fits_type(branch: dict[str, Any], item: Any) -> bool:
    """The first branch of a union an item may be in: its type, and its tag when it has one."""
    kind = branch.get("type")
    if kind in ("integer", "number"):
        if not isinstance(item, int | float) or isinstance(item, bool):
            return False
    elif kind is not None and not isinstance(item, _JSON_TYPES.get(kind, object)):
        return False
    tags = {
        key: prop["const"]
        for key, prop in branch.get("properties", {}).items()
        if isinstance(prop, dict) and "const" in prop
    }
    return not isinstance(item, dict) or all(item.get(k) == v for k, v in tags.items())
