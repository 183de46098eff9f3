from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.schemas.users import RegisterRequest, SelfUpdate


@pytest.mark.parametrize(
    "email", ["a@example.com", "first.last+tag@sub.example.co.uk", "x@EXAMPLE.COM"]
)
def test_valid_emails(email):
    parsed = RegisterRequest(username="abc", email=email, password="12345678").email
    assert parsed.split("@")[1] == email.split("@")[1].lower()


@pytest.mark.parametrize("email", ["plain", "a@b", "a b@example.com", "@example.com", "a@-x.com"])
def test_invalid_emails(email):
    with pytest.raises(ValidationError):
        RegisterRequest(username="abc", email=email, password="12345678")


def test_requests_forbid_unknown_fields():
    with pytest.raises(ValidationError) as caught:
        SelfUpdate.model_validate({"role": "admin"})
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
