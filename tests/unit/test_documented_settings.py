"""Every setting the service reads is in .env.example and in the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(name.upper() for name in Settings.model_fields)


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_setting_is_documented(document):
    text = (ROOT / document).read_text()
    missing = [name for name in NAMES if name not in text]
    assert missing == []
