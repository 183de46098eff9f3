"""Cold-start baseline: a functions-framework HTTP function that imports nothing of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Request


def hello(request: Request) -> str:
    return "ok"
