"""Validates topic values against their JSON Schema, chosen by the value's own `schema` field."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker


class SchemaError(ValueError):
    """A value does not match its contract; the message names the schema and the failing path."""


@cache
def _validator(name: str) -> Draft202012Validator:
    fn = name.replace("/", "-") + ".schema.json"
    try:
        text = resources.files("vigie.schemas").joinpath("json", fn).read_text()
    except FileNotFoundError:
        raise SchemaError(f"unknown schema {name!r}") from None
    return Draft202012Validator(json.loads(text), format_checker=FormatChecker())


def names() -> list[str]:
    """Every schema name/version shipped."""
    folder = resources.files("vigie.schemas").joinpath("json")
    return sorted(p.name.removesuffix(".schema.json").replace("-", "/", 1)
                  for p in folder.iterdir() if p.name.endswith(".schema.json"))


def validate(value: Any, name: str | None = None) -> None:
    """Raise SchemaError unless value matches its schema (value["schema"], or name when given)."""
    if not isinstance(value, dict):
        raise SchemaError(f"expected a JSON object, got {type(value).__name__}")
    name = name or value.get("schema")
    if not isinstance(name, str):
        raise SchemaError("value has no 'schema' field naming its contract")
    errors = sorted(_validator(name).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        path = "/".join(str(p) for p in err.path) or "(root)"
        raise SchemaError(f"{name}: {path}: {err.message}")
