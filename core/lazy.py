"""A value made on first use, once, under a lock: nothing built at import, nothing built twice
by two threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._make()
        return value

    def made(self) -> T | None:
        """The value if it was made already (no lock, nothing made)."""
        return self._value

    def reset(self) -> T | None:
        """Forget the value (the next `get` makes a new one); returns the one forgotten."""
        with self._lock:
            value, self._value = self._value, None
        return value
