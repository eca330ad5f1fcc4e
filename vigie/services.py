"""The registry of services `vigie up` supervises: each factory reads the config and returns (name, run) pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

FACTORIES: list[Any] = []
