"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.e2e.schemathesis_hooks): what the OpenAPI document
cannot say by itself.

- `format: cursor`: a page cursor is opaque, handed out by the previous page; the only one a
  client can make up is none (the empty string: the first page)."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.format("cursor", st.just(""))
