"""The configuration's error type, apart from vigie/config.py so that what the configuration calls to resolve
itself (vigie/inventory.py) can raise it without importing the configuration back."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, stated in one line that names the key."""
