"""Unit tests of the SDK's pure-Python parts on ordinary CPython (no component, no host).

Run: python3 -m unittest discover -s guest-sdk/python/tests
The behaviour inside a real component is covered by `tests/all/python.rs`.
"""

from __future__ import annotations

import json
import logging
import sys
import unittest
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wasmboost_guest import DeadLetter, Fail, Retry, TaskContext, context  # noqa: E402
from wasmboost_guest import GrantError, config, kv, publish  # noqa: E402
from wasmboost_guest import _dispatch, _host, _logging, _task  # noqa: E402
from wasmboost_guest._task import Task  # noqa: E402

CTX = TaskContext("t-1", "q", 2, 1_700_000_000_000, 1_700_000_005_000)


def run(func, payload) -> _dispatch.Outcome:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return _dispatch.run(Task(func), CTX, text)


def add(x: int, y: int = 10) -> int:
    return x + y


class Binding(unittest.TestCase):
    def test_kwargs_and_defaults(self):
        self.assertEqual(run(add, {"x": 1, "y": 2}), _dispatch.Done("3"))
        self.assertEqual(run(add, {"x": 1}), _dispatch.Done("11"))

    def test_extra_is_not_an_argument(self):
        self.assertEqual(run(add, {"x": 1, "extra": {"task_id": "a"}}), _dispatch.Done("11"))

    def test_missing_and_unknown_are_named(self):
        self.assertEqual(run(add, {"y": 1}), _dispatch.Failed("missing argument 'x'"))
        self.assertEqual(run(add, {"x": 1, "z": 2}), _dispatch.Failed("unknown argument 'z'"))

    def test_var_keyword_takes_unknown_keys(self):
        def f(a: int, **rest):
            return sorted(rest)

        self.assertEqual(run(f, {"a": 1, "b": 2, "c": 3}), _dispatch.Done('["b","c"]'))

    def test_payload_must_be_an_object(self):
        self.assertEqual(run(add, "[1]"), _dispatch.Failed("payload must be a JSON object, got list"))
        self.assertIn("payload is not valid JSON", run(add, "{").reason)


class TypeHints(unittest.TestCase):
    def test_scalars(self):
        self.assertEqual(
            run(add, {"x": "1"}), _dispatch.Failed("argument 'x' must be int, got str")
        )
        self.assertEqual(
            run(add, {"x": True}), _dispatch.Failed("argument 'x' must be int, got bool")
        )
        self.assertEqual(
            run(add, {"x": 1.5}), _dispatch.Failed("argument 'x' must be int, got float")
        )

    def test_int_is_accepted_as_float(self):
        def half(v: float) -> float:
            return v / 2

        self.assertEqual(run(half, {"v": 3}), _dispatch.Done("1.5"))

    def test_containers_name_the_element(self):
        def total(xs: list[int], weights: dict[str, float]) -> float:
            return sum(xs) + sum(weights.values())

        self.assertEqual(run(total, {"xs": [1, 2], "weights": {"a": 1}}), _dispatch.Done("4.0"))
        self.assertEqual(
            run(total, {"xs": [1, "2"], "weights": {}}),
            _dispatch.Failed("argument 'xs[1]' must be int, got str"),
        )
        self.assertEqual(
            run(total, {"xs": [], "weights": {"a": "b"}}),
            _dispatch.Failed("argument 'weights['a']' must be float, got str"),
        )

    def test_optional_and_union(self):
        def f(a: Optional[int] = None, b: int | str = 0):
            return [a, b]

        self.assertEqual(run(f, {"a": None, "b": "s"}), _dispatch.Done('[null,"s"]'))
        self.assertEqual(
            run(f, {"a": "x"}), _dispatch.Failed("argument 'a' must be Optional[int], got str")
        )

    def test_unknown_hints_are_not_checked(self):
        class Custom:
            pass

        def f(a: Custom):
            return a

        self.assertEqual(run(f, {"a": {"k": 1}}), _dispatch.Done('{"k":1}'))


class Outcomes(unittest.TestCase):
    def test_exception_has_type_message_and_traceback(self):
        def boom():
            raise ValueError("bad input 42")

        reason = run(boom, {}).reason
        self.assertTrue(reason.startswith("ValueError: bad input 42\n"), reason)
        self.assertIn("Traceback (most recent call last)", reason)
        self.assertIn("in boom", reason)
        self.assertNotIn("_dispatch.py", reason)

    def test_traceback_is_bounded(self):
        def deep(n):
            if n == 0:
                raise RuntimeError("x" * 10_000)
            return deep(n - 1)

        reason = run(lambda: deep(200), {}).reason
        self.assertLessEqual(len(reason), _dispatch.MAX_REASON_CHARS)
        self.assertTrue(reason.startswith("RuntimeError: xxx"))

    def test_retry_dead_letter_fail(self):
        def retry():
            raise Retry("busy", delay=2.5)

        def retry_default():
            raise Retry()

        def dead():
            raise DeadLetter("poison")

        def fail():
            raise Fail("no")

        self.assertEqual(run(retry, {}), _dispatch.Retried("busy", 2500))
        self.assertEqual(run(retry_default, {}), _dispatch.Retried("retry requested", None))
        self.assertEqual(run(dead, {}), _dispatch.DeadLettered("poison"))
        self.assertEqual(run(fail, {}), _dispatch.Failed("no"))

    def test_retry_rejects_negative_delay(self):
        with self.assertRaises(ValueError):
            Retry(delay=-1)

    def test_non_serialisable_return(self):
        self.assertEqual(
            run(lambda: {1, 2}, {}),
            _dispatch.Failed(
                "return value is not JSON-serialisable: Object of type set is not JSON serializable"
            ),
        )
        self.assertIn("not JSON-serialisable", run(lambda: float("nan"), {}).reason)

    def test_system_exit_is_a_failure_not_an_exit(self):
        def bye():
            sys.exit(3)

        self.assertEqual(run(bye, {}).reason.split("\n")[0], "SystemExit: 3")


class Context(unittest.TestCase):
    def test_context_inside_and_outside(self):
        def who():
            return [context.task_id, context.queue, context.attempt, context.deadline_ms]

        self.assertEqual(
            run(who, {}), _dispatch.Done('["t-1","q",2,1700000005000]')
        )
        with self.assertRaises(RuntimeError):
            _ = context.task_id

    def test_deadline_datetime(self):
        self.assertEqual(CTX.deadline.timestamp(), 1_700_000_005.0)


class Registry(unittest.TestCase):
    def setUp(self):
        _task._registered.clear()

    def tearDown(self):
        _task._registered.clear()

    def test_exactly_one(self):
        with self.assertRaisesRegex(RuntimeError, "defines no @task function"):
            _task.the_task("app")
        _task.task(add)
        self.assertIs(_task.the_task("app").func, add)
        _task.task(lambda: 1)
        with self.assertRaisesRegex(RuntimeError, r"defines 2 @task functions \(add, <lambda>\)"):
            _task.the_task("app")

    def test_decorated_function_is_still_callable(self):
        self.assertEqual(_task.task(add)(1, 2), 3)

    def test_async_and_positional_only_are_rejected(self):
        async def a():
            return 1

        def p(x, /):
            return x

        with self.assertRaisesRegex(TypeError, "async functions are not supported"):
            _task.task(a)
        with self.assertRaisesRegex(TypeError, "positional-only parameter 'x'"):
            _task.task(p)


class Logging(unittest.TestCase):
    def test_records_reach_the_sink_with_levels(self):
        lines = []
        saved = logging.getLogger().handlers[:], logging.getLogger().level
        try:
            _logging.install(lambda level, message: lines.append((level, message)))
            logging.debug("hidden")
            logging.info("hello %s", "world")
            logging.getLogger("app").warning("careful")
            logging.error("bad")
        finally:
            logging.getLogger().handlers[:], level = saved
            logging.getLogger().setLevel(level)
        self.assertEqual(
            lines,
            [
                (_logging.INFO, "hello world"),
                (_logging.WARN, "[app] careful"),
                (_logging.ERROR, "bad"),
            ],
        )


if __name__ == "__main__":
    unittest.main()


class FakeHost:
    """A host double: kv in a dict, publishes recorded, one config value and one secret."""

    def __init__(self):
        self.kv = {}
        self.published = []

    def kv_get(self, key):
        return self.kv.get(key)

    def kv_set(self, key, value, ttl_ms):
        self.kv[key] = value
        self.ttl_ms = ttl_ms

    def kv_delete(self, key):
        return self.kv.pop(key, None) is not None

    def kv_increment(self, key, delta):
        value = int(self.kv.get(key, b"0")) + delta
        self.kv[key] = str(value).encode()
        return value

    def kv_compare_and_swap(self, key, expected, value):
        if self.kv.get(key) != expected:
            return False
        self.kv[key] = value
        return True

    def publish(self, queue, payload, countdown_ms, priority, task_id):
        if queue != "index":
            raise _host.GrantError("denied", f"may not publish to {queue!r}")
        self.published.append((queue, json.loads(payload), countdown_ms, priority, task_id))
        return "t-new"

    def config_get(self, name):
        if name != "USER_AGENT":
            raise _host.GrantError("denied", f"no config value {name!r} is granted")
        return "agent"

    def config_secret(self, name):
        raise _host.GrantError("denied", f"no secret {name!r} is granted")


class Grants(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()
        _host.install(self.host)

    def tearDown(self):
        _host.install(None)

    def test_kv_round_trips_bytes_and_str(self):
        self.assertIsNone(kv.get("k"))
        kv.set("k", "välue", ttl=1.5)
        self.assertEqual(kv.get("k"), "välue".encode())
        self.assertEqual(self.host.ttl_ms, 1500)
        self.assertEqual(kv.incr("n"), 1)
        self.assertEqual(kv.incr("n", 4), 5)
        self.assertTrue(kv.compare_and_swap("seen", None, b"1"))
        self.assertFalse(kv.compare_and_swap("seen", None, b"1"))
        self.assertTrue(kv.delete("k"))
        with self.assertRaises(TypeError):
            kv.set("k", 3)
        with self.assertRaises(TypeError):
            kv.incr("n", True)
        with self.assertRaises(ValueError):
            kv.set("k", b"v", ttl=-1)

    def test_publish_sends_json_and_options(self):
        task_id = publish("index", {"url": "/a"}, countdown=2, priority=3)
        self.assertEqual(task_id, "t-new")
        self.assertEqual(self.host.published, [("index", {"url": "/a"}, 2000, 3, None)])
        with self.assertRaises(GrantError) as denied:
            publish("other", {})
        self.assertTrue(denied.exception.denied)
        with self.assertRaises(ValueError):
            publish("index", {}, priority=10)
        with self.assertRaises(ValueError):
            publish("index", {"x": float("nan")})

    def test_config_and_denials_are_typed(self):
        self.assertEqual(config.get("USER_AGENT"), "agent")
        with self.assertRaises(GrantError) as err:
            config.secret("API_KEY")
        self.assertEqual(err.exception.kind, "denied")
        self.assertNotIn("agent", str(err.exception))

    def test_outside_a_component_is_a_clear_error(self):
        _host.install(None)
        with self.assertRaisesRegex(RuntimeError, "inside a running task"):
            kv.get("k")
