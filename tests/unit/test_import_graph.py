"""Cold start is a user-visible cost: a function imports only what it uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from functions import GROUPS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = [
    "pydantic_ai",
    "anthropic",
    "google.genai",
    "google.cloud.tasks_v2",
    "google.cloud.storage",
    "google.cloud.aiplatform",
    "google.cloud.sql.connector",
]
# needed by no request of these groups: loaded lazily where they are used
LAZY = ["alembic", "apispec", "pgserver", "pydantic_settings", "email_validator"]


def _loaded_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("group", GROUPS)
def test_function_module_does_not_load_heavy_or_lazy_modules(group):
    loaded = _loaded_after_import(f"functions.{group}.main")
    unexpected = [m for m in HEAVY + LAZY if m in loaded]
    assert unexpected == []


def test_importing_core_models_creates_no_engine():
    code = (
        "import core.models; core.models.all_models(); import core.db.engine as e; "
        "assert e._engine is None and e._sessions is None; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def _third_party_roots(modules: set[str]) -> set[str]:
    roots = {name.split(".")[0] for name in modules}
    own = {"core", "functions", "bench", "tests", "__main__"}
    return {r for r in roots - own if r not in sys.stdlib_module_names and not r.startswith("_")}


def test_cold_start_baseline_imports_what_the_auth_function_imports():
    """bench/cold_start.py compares auth with a function importing the same third-party
    packages; if auth starts importing another package, the baseline must say so."""
    auth = _third_party_roots(_loaded_after_import("functions.auth.main"))
    baseline = _third_party_roots(_loaded_after_import("bench.cold_start_targets.bare_imports"))
    assert auth - baseline == set()
    assert "sqlalchemy.orm" in _loaded_after_import("bench.cold_start_targets.bare_imports")


def test_auth_function_maps_only_the_tables_it_uses():
    loaded = _loaded_after_import("functions.auth.main")
    assert "core.models.users" in loaded
    assert not {"core.models.agents", "core.models.marketplace"} & loaded


def test_core_uses_only_pydantic_ais_public_names():
    """Private modules (pydantic_ai._agent_graph, ...) change without notice between releases."""
    private = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "pydantic_ai._" in line or "from pydantic_ai import _" in line
    ]
    assert private == []


# Top to bottom: a module imports from its own layer or a lower one, never a higher one, lazy
# imports and module names handed to importlib included. Within a layer, rooms may import each
# other but no two modules may reach each other (test_no_import_cycle_in_core). A new top-level
# module or package of core must be placed here before it can land.
LAYERS: list[tuple[str, set[str]]] = [
    ("entry: the local server and the operator commands", {"devserver", "cli"}),
    ("http: Flask, routes, dispatch, streams, the document", {"http"}),
    ("services: one concept per module, as the routes serve it", {"services"}),
    ("evals: eval runs driven and scored, the release gate", {"evals"}),
    ("runs: the run engine", {"runs"}),
    ("knowledge: documents, chunks, embeddings and retrieval", {"knowledge"}),
    ("agents: one pydantic-ai agent built and run", {"agents"}),
    ("a2a: remote A2A agents as an agent's tools", {"a2a"}),
    ("mcp: MCP servers as an agent's toolsets", {"mcp"}),
    ("shapes: the API's bodies and pages", {"schemas", "pagination"}),
    ("definition: what an agent's definition may say", {"definition"}),
    (
        "shared rules: who may, artifacts, credentials, built-in tools",
        {"access", "artifacts", "credentials", "tools"},
    ),
    (
        "infrastructure: database, object store, queue, webhooks, tokens, sealing, traces",
        {"db", "storage", "tasks", "webhooks", "auth", "sealing", "telemetry"},
    ),
    (
        "ground: tables, settings, errors, time and small pure helpers",
        {
            "core",
            "models",
            "config",
            "egress",
            "errors",
            "clock",
            "cron",
            "json_schema",
            "lazy",
            "patch",
            "replies",
            "secret_names",
            "warmup",
        },
    ),
]


def _core_modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (ROOT / "core").rglob("*.py")
    }


def _imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every core module `path` imports, at its top or inside a function, and every module it
    names in a string (what importlib loads: "core.x.y" or "core.x.y:function")."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = node.value.partition(":")[0]
            # a module, not a package: "core.http" in a string is a logger's name
            if not (ROOT / (named.replace(".", "/") + "/__init__.py")).exists():
                names = [named]
        found |= {name for name in names if name in modules}
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_core_room_has_a_layer():
    placed = {room for _, rooms in LAYERS for room in rooms}
    assert sorted({_room(m) for m in _core_modules()} - placed) == []


def test_imports_run_down_the_layers():
    """No import of a higher layer, lazy or not: the run engine never calls back into a service,
    the agent never into the engine. Each offence is named with its line of reasoning."""
    rank = {room: depth for depth, (_, rooms) in enumerate(LAYERS) for room in rooms}
    modules = _core_modules()
    upward = sorted(
        f"{name} ({LAYERS[rank[_room(name)]][0].split(':')[0]}) imports {target} "
        f"({LAYERS[rank[_room(target)]][0].split(':')[0]})"
        for name, path in modules.items()
        for target in _imports_of(path, set(modules))
        if rank[_room(target)] < rank[_room(name)]
    )
    assert upward == []


def test_no_import_cycle_in_core():
    """Lazy imports included: a cycle is two modules that cannot be understood apart."""
    paths = _core_modules()
    graph = {name: _imports_of(path, set(paths)) - {name} for name, path in paths.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            here = todo.pop()
            for there in graph[here]:
                if there == goal:
                    return True
                if there not in seen:
                    seen.add(there)
                    todo.append(there)
        return False

    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a < b and reaches(b, a))
    assert cycles == []


def test_core_imports_no_function():
    """The route groups assemble core, never the other way (the local server included)."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if any(
            name == "functions" or name.startswith("functions.")
            for name in _imports_of(path, {"functions"} | {f"functions.{g}.main" for g in GROUPS})
        )
    ]
    assert offenders in ([], ["core/devserver.py"])
