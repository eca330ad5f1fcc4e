"""Finding the real peer tools the tests run: missing ones skip locally but fail in CI, where setup installs them."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """The path of an executable, or a skip (a failure under CI=true) naming the Debian package to install."""
    path = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
    if path:
        return path
    message = f"{name} is not installed (bash scripts/setup installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
