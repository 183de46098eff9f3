"""What tests measured, printed at the end of `make test` (a section per name, in the order
first written): figures a closing note quotes, taken from the run that checked them."""

from __future__ import annotations

SECTIONS: dict[str, list[str]] = {}


def report(section: str, line: str) -> None:
    SECTIONS.setdefault(section, []).append(line)
