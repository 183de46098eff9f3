"""The console checks its forms with the API's own rules: console/src/forms.json is what
core.http.console_forms makes of the request models, and it must not drift from them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from core.http.console_forms import console_forms

FORMS = Path(__file__).resolve().parents[2] / "console" / "src" / "forms.json"


def test_the_consoles_form_rules_are_the_request_models_rules():
    assert json.loads(FORMS.read_text()) == console_forms(), (
        "regenerate: python -m core.http.console_forms > console/src/forms.json"
    )


def test_each_checked_pattern_comes_with_words_a_person_can_read():
    for form in console_forms().values():
        for name, field in form["fields"].items():
            if "pattern" in field:
                re.compile(field["pattern"])
                assert field.get("description"), f"{name}: a pattern needs a description"
