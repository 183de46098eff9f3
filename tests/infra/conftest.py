"""Fixtures of the offline Terraform checks: the parsed configuration and one checkov scan."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.terraform import TerraformConfig, load_config, run_checkov

_summary: list[str] = []


@pytest.fixture(scope="session")
def tf() -> TerraformConfig:
    return load_config()


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    report = run_checkov()
    results = report["results"]
    _summary.append(
        "checkov terraform/: {} passed, {} failed, {} skipped".format(
            len(results["passed_checks"]),
            len(results["failed_checks"]),
            len(results["skipped_checks"]),
        )
    )
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        _summary.append(f"  skipped {check['check_id']} on {check['resource']}: {reason}")
    for check in results["failed_checks"]:
        _summary.append(
            f"  FAILED {check['check_id']} on {check['resource']}: {check['check_name']}"
        )
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _summary:
        terminalreporter.section("checkov")
        for line in _summary:
            terminalreporter.write_line(line)
