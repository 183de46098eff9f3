"""checkov over terraform/: no failed check, and every skip carries its reason in the HCL."""

from __future__ import annotations

from typing import Any

from tests.support.terraform import TerraformConfig, skip_comments


def test_no_failed_checks(checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]
    ]
    assert failed == []
    assert len(results["passed_checks"]) >= 30  # it did scan the configuration


def test_every_skip_has_a_reason(checkov_report: dict[str, Any], tf: TerraformConfig) -> None:
    for check in checkov_report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) >= 30, f"{check['check_id']} on {check['resource']}: {reason!r}"
    for file, check_id, reason in skip_comments(tf):
        assert len(reason) >= 30, f"{file}: #checkov:skip={check_id} needs ':<reason>'"


def test_no_stale_skips(checkov_report: dict[str, Any], tf: TerraformConfig) -> None:
    used = {c["check_id"] for c in checkov_report["results"]["skipped_checks"]}
    written = {check_id for _, check_id, _ in skip_comments(tf)}
    assert written == used, "a skip comment for a check that no longer fires: remove it"
