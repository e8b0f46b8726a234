"""The provider specs: loaded once, listed as operations, and used to validate requests.

The spec is the source of truth (stripe-mock's rule): routes are registered from its operations, and
request bodies are checked against its schemas before a handler runs. The validator covers the JSON
Schema subset the specs use (type, enum, const, required, properties, additionalProperties, bounds,
lengths, pattern, items, anyOf/oneOf, local $ref) and reports errors in FastAPI's ``{loc, msg, type}``
shape, which fal returns as is and the other providers re-word.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).resolve().parents[2] / "openapi"
_PACKAGED = Path(__file__).resolve().parents[1] / "openapi"  # where the wheel puts the specs (mockserver/openapi)


def spec_path(name: str) -> Path:
    for root in (SPEC_DIR, _PACKAGED):
        if (root / f"{name}.yaml").is_file():
            return root / f"{name}.yaml"
    raise FileNotFoundError(f"no OpenAPI spec for {name!r}")


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: the specs load ~10x faster (start-up)


@functools.cache
def load_spec(name: str) -> dict[str, Any]:
    return yaml.load(spec_path(name).read_text(), Loader=_LOADER)  # a safe loader (no object tags)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # content type -> schema
    secured: bool = True
    parameters: tuple[dict[str, Any], ...] = ()  # query and header parameters (path ones are routed)


def operations(spec: dict[str, Any]) -> list[Operation]:
    ops, resolver = [], Validator(spec)
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            content = resolver.resolve(op.get("requestBody") or {}).get("content", {})
            bodies = {ctype: media.get("schema", {}) for ctype, media in content.items()}
            secured = bool(op.get("security", spec.get("security", [])))
            params = tuple(p for p in op.get("parameters", []) if p.get("in") in ("query", "header"))
            ops.append(Operation(op["operationId"], method.upper(), path, bodies, secured, params))
    return ops


class Validator:
    """Validates instances against schemas of one spec (resolving its local $refs)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.spec
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def errors(
        self, value: Any, schema: dict[str, Any], loc: tuple[str | int, ...] = ("body",)
    ) -> list[dict[str, Any]]:
        schema = self.resolve(schema)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                options = [self.errors(value, option, loc) for option in schema[keyword]]
                if not any(not errs for errs in options):
                    return min(options, key=len)
        found = self._type_errors(value, schema, loc)
        if found:
            return found
        if "const" in schema and value != schema["const"]:
            return [_err(loc, f"value must be {schema['const']!r}", "const")]
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(repr(v) for v in schema["enum"])
            return [_err(loc, f"value is not a valid enumeration member; permitted: {allowed}", "type_error.enum")]
        if isinstance(value, dict):
            return self._object_errors(value, schema, loc)
        if isinstance(value, list):
            found = []
            if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", math.inf):
                found.append(_err(loc, "wrong number of items", "value_error.list"))
            for i, item in enumerate(value):
                found += self.errors(item, schema.get("items", {}), (*loc, i))
            return found
        if isinstance(value, str):
            return _string_errors(value, schema, loc)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _number_errors(value, schema, loc)
        return []

    def _type_errors(self, value: Any, schema: dict[str, Any], loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
        expected = schema.get("type")
        if expected is None:
            return []
        types = expected if isinstance(expected, list) else [expected]
        if any(_is_type(value, t) for t in types):
            return []
        return [_err(loc, f"value is not a valid {' or '.join(types)}", f"type_error.{types[0]}")]

    def _object_errors(
        self, value: dict[str, Any], schema: dict[str, Any], loc: tuple[str | int, ...]
    ) -> list[dict[str, Any]]:
        found = [
            _err((*loc, key), "field required", "value_error.missing")
            for key in schema.get("required", [])
            if key not in value
        ]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += self.errors(item, properties[key], (*loc, key))
            elif extra is False:
                found.append(_err((*loc, key), "extra fields not permitted", "value_error.extra"))
            elif isinstance(extra, dict):
                found += self.errors(item, extra, (*loc, key))
        return found


def parameter_errors(
    validator: Validator, parameters: tuple[dict[str, Any], ...], query: Any, headers: Any
) -> list[dict[str, Any]]:
    """Check query and header parameters (strings on the wire; integers and numbers are coerced)."""
    found: list[dict[str, Any]] = []
    for param in parameters:
        source = query if param["in"] == "query" else headers
        raw = source.get(param["name"])
        loc: tuple[str | int, ...] = (param["in"], param["name"])
        if raw is None:
            if param.get("required"):
                found.append(_err(loc, "field required", "value_error.missing"))
            continue
        schema = validator.resolve(param.get("schema", {}))
        value: Any = raw
        if schema.get("type") in ("integer", "number"):
            try:
                value = int(raw) if schema["type"] == "integer" else float(raw)
            except ValueError:
                found.append(_err(loc, f"value is not a valid {schema['type']}", f"type_error.{schema['type']}"))
                continue
        found += validator.errors(value, schema, loc)
    return found


def _is_type(value: Any, name: str) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "null": lambda v: v is None,
    }
    return checks[name](value)


def _string_errors(value: str, schema: dict[str, Any], loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    if len(value) < schema.get("minLength", 0):
        return [
            _err(
                loc,
                f"ensure this value has at least {schema['minLength']} characters",
                "value_error.any_str.min_length",
            )
        ]
    if len(value) > schema.get("maxLength", math.inf):
        return [
            _err(
                loc, f"ensure this value has at most {schema['maxLength']} characters", "value_error.any_str.max_length"
            )
        ]
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return [_err(loc, f"string does not match regex {schema['pattern']!r}", "value_error.str.regex")]
    return []


def _number_errors(value: float, schema: dict[str, Any], loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    bounds = [
        ("minimum", lambda v, b: v >= b, "greater than or equal to"),
        ("maximum", lambda v, b: v <= b, "less than or equal to"),
        ("exclusiveMinimum", lambda v, b: v > b, "greater than"),
        ("exclusiveMaximum", lambda v, b: v < b, "less than"),
    ]
    for keyword, ok, words in bounds:
        if keyword in schema and not ok(value, schema[keyword]):
            return [_err(loc, f"ensure this value is {words} {schema[keyword]}", f"value_error.number.{keyword}")]
    return []


def _err(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}
