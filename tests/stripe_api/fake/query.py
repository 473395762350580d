"""Stripe's form and query encoding, decoded: ``created[gte]=1`` -> ``{"created": {"gte": "1"}}``,
``expand[0]=a&expand[1]=b`` (or ``expand[]=a``) -> ``{"expand": ["a", "b"]}``.

Values stay strings, as Stripe receives them; ``coerce`` converts one to the type of the value
it replaces in an object.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class BadParameter(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def decode(encoded: str) -> dict[str, Any]:
    """The parameters of a query string or an x-www-form-urlencoded body."""
    tree: dict[str, Any] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise BadParameter(key, f"Invalid parameter name: {key}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _put(tree, path, value)
    return _listify(tree)


def _put(tree: dict[str, Any], path: list[str], value: str) -> None:
    node = tree
    for index, part in enumerate(path[:-1]):
        following = path[index + 1]
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise BadParameter(path[0], f"Invalid parameter: {path[0]}")
        if following == "":  # a[]=x: the next free index
            path[index + 1] = str(len(child))
        node = child
    node[path[-1] or str(len(node))] = value


def _listify(value: Any) -> Any:
    """Dicts whose keys are 0..n-1 become lists (Stripe's indexed arrays)."""
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def coerce(value: Any, like: Any) -> Any:
    """``value`` (a decoded string, or a structure of them) as the type of ``like``."""
    if not isinstance(value, str):
        return value
    if isinstance(like, bool):
        if value not in ("true", "false"):
            raise BadParameter("", f"Invalid boolean: {value}")
        return value == "true"
    if isinstance(like, int):
        try:
            return int(value)
        except ValueError:
            raise BadParameter("", f"Invalid integer: {value}") from None
    if isinstance(like, float):
        return float(value)
    return value


def integer(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """``params[name]`` as an integer (or ``default`` when absent); BadParameter otherwise."""
    value = params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadParameter(name, f"Invalid integer: {value}") from None
