"""``@task``: register the one task function of a component and call it with a message."""

from __future__ import annotations

import inspect
import json
import typing
from dataclasses import dataclass
from typing import Any, Callable

from ._errors import ArgumentError
from ._types import Checker, checker_for, json_type_name

#: The key of a message that carries delivery metadata; never a task argument.
EXTRA_KEY = "extra"


@dataclass(frozen=True)
class _Param:
    name: str
    required: bool
    check: Checker


class Task:
    """A function registered with ``@task``, with its argument checks prepared."""

    def __init__(self, func: Callable[..., Any]) -> None:
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(f"@task {func.__qualname__}: async functions are not supported")
        self.func = func
        self.name = func.__name__
        self.params, self.accepts_any = _prepare(func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Calling the decorated function directly (e.g. in a unit test) is a plain call.
        return self.func(*args, **kwargs)

    def bind(self, payload: str) -> dict[str, Any]:
        """Turn a message into keyword arguments, or raise ArgumentError naming the problem."""
        try:
            message = json.loads(payload)
        except ValueError as err:
            raise ArgumentError(f"payload is not valid JSON: {err}") from None
        if not isinstance(message, dict):
            raise ArgumentError(f"payload must be a JSON object, got {json_type_name(message)}")
        message.pop(EXTRA_KEY, None)
        kwargs = {}
        for param in self.params:
            if param.name in message:
                kwargs[param.name] = param.check(param.name, message.pop(param.name))
            elif param.required:
                raise ArgumentError(f"missing argument '{param.name}'")
        if message and not self.accepts_any:
            raise ArgumentError(f"unknown argument '{sorted(message)[0]}'")
        kwargs.update(message)
        return kwargs


def _prepare(func: Callable[..., Any]) -> tuple[list[_Param], bool]:
    """The parameters a message may fill, and whether ``**kwargs`` takes unknown keys."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable hints are simply not checked
        hints = {}
    params: list[_Param] = []
    accepts_any = False
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            accepts_any = True
        elif p.kind is p.POSITIONAL_ONLY:
            raise TypeError(
                f"@task {func.__qualname__}: positional-only parameter '{p.name}' "
                "cannot be filled from a JSON object"
            )
        elif p.kind is not p.VAR_POSITIONAL:
            check = checker_for(hints.get(p.name, Any))
            params.append(_Param(p.name, p.default is p.empty, check))
    return params, accepts_any


_registered: list[Task] = []


def task(func: Callable[..., Any]) -> Task:
    """Mark ``func`` as the component's task. A component has exactly one.

    The message's top-level keys become keyword arguments (``extra`` is delivery metadata and is
    left out); defaults apply; basic type hints are checked; the return value is sent back as
    JSON.
    """
    registered = Task(func)
    _registered.append(registered)
    return registered


def the_task(module_name: str) -> Task:
    """The one registered task; raises with a build-time message when there are none or several."""
    if not _registered:
        raise RuntimeError(
            f"wasmboost: {module_name}.py defines no @task function; "
            "a component needs exactly one (decorate it with @task)"
        )
    if len(_registered) > 1:
        names = ", ".join(t.name for t in _registered)
        raise RuntimeError(
            f"wasmboost: {module_name}.py defines {len(_registered)} @task functions ({names}); "
            "a component has exactly one: split them into separate projects"
        )
    return _registered[0]
