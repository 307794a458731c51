"""The smallest wasmboost task: add two integers."""

from wasmboost_guest import task


@task
def add(x: int, y: int) -> int:
    return x + y
