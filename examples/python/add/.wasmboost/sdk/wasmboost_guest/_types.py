"""Checks of JSON values against a task's basic type hints.

Only the types JSON can carry are checked (``int``, ``float``, ``str``, ``bool``, ``None``,
``list[...]``, ``dict[str, ...]``, ``tuple[...]``, ``Optional``/``Union``); anything else is
accepted unchecked. Checkers are built once, when ``@task`` runs (at build time, inside the
pre-initialised snapshot), so a call only runs the small closures below.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Callable

from ._errors import ArgumentError

#: Turns a JSON value into the value the task receives, or raises ArgumentError.
Checker = Callable[[str, Any], Any]

_JSON_NAMES = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "list",
    dict: "dict",
    type(None): "None",
}


def json_type_name(value: Any) -> str:
    """The Python name of a decoded JSON value's type, for error messages."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _mismatch(where: str, expected: str, value: Any) -> ArgumentError:
    return ArgumentError(f"argument '{where}' must be {expected}, got {json_type_name(value)}")


def _accept(_where: str, value: Any) -> Any:
    return value


def _scalar(expected: type, name: str) -> Checker:
    def check(where: str, value: Any) -> Any:
        # bool is a subclass of int, but JSON true is not a number.
        if isinstance(value, bool) and expected is not bool:
            raise _mismatch(where, name, value)
        if expected is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, expected):
            raise _mismatch(where, name, value)
        return value

    return check


def _none(where: str, value: Any) -> Any:
    if value is not None:
        raise _mismatch(where, "None", value)
    return None


def _sequence(item: Checker, name: str, make: Callable[[list], Any]) -> Checker:
    def check(where: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise _mismatch(where, name, value)
        return make([item(f"{where}[{i}]", v) for i, v in enumerate(value)])

    return check


def _mapping(value_check: Checker, name: str) -> Checker:
    def check(where: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise _mismatch(where, name, value)
        return {k: value_check(f"{where}[{k!r}]", v) for k, v in value.items()}

    return check


def _union(options: list[Checker], name: str) -> Checker:
    def check(where: str, value: Any) -> Any:
        for option in options:
            try:
                return option(where, value)
            except ArgumentError:
                continue
        raise _mismatch(where, name, value)

    return check


def describe(hint: Any) -> str:
    """A short readable name for a type hint: ``int``, ``list[int]``, ``int | None``."""
    if hint is type(None) or hint is None:
        return "None"
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def checker_for(hint: Any) -> Checker:
    """Build the checker for one type hint (``Any`` and unknown hints accept everything)."""
    if hint is typing.Any or hint is object:
        return _accept
    if hint is None or hint is type(None):
        return _none
    if hint in (bool, int, float, str):
        return _scalar(hint, hint.__name__)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is list or origin is list:
        item = checker_for(args[0]) if args else _accept
        return _sequence(item, describe(hint), list)
    if hint is tuple or origin is tuple:
        item = checker_for(args[0]) if len(args) == 2 and args[1] is Ellipsis else _accept
        return _sequence(item, describe(hint), tuple)
    if hint is dict or origin is dict:
        value_check = checker_for(args[1]) if len(args) == 2 else _accept
        return _mapping(value_check, describe(hint))
    if origin is typing.Union or origin is types.UnionType:
        return _union([checker_for(a) for a in args], describe(hint))
    return _accept
