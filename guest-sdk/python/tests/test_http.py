"""Unit tests of ``wasmboost_guest.http`` on ordinary CPython with a host double: what a
request sends (method, URL, headers, body) and how a response or a refusal comes back.

Run: python3 -m unittest discover -s guest-sdk/python/tests
The real ``wasi:http`` path is covered by ``tests/all/grants/python_http.rs``.
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wasmboost_guest import _host, http  # noqa: E402


class HttpHost:
    """Answers every request with ``status`` and a JSON body; refuses ``denied.example``."""

    def __init__(self, status=200):
        self.status = status
        self.sent = []

    def http_request(self, method, url, headers, body):
        self.sent.append((method, url, headers, body))
        if "denied.example" in url:
            raise http.HttpError("HTTP-request-denied", f"HTTP-request-denied: {url}")
        return self.status, [("Content-Type", b"application/json")], b'{"ok": true}'


class Http(unittest.TestCase):
    def setUp(self):
        self.host = HttpHost()
        _host.install(self.host)

    def tearDown(self):
        _host.install(None)

    def test_get_sends_headers_and_reads_the_response(self):
        reply = http.get("https://api.example/items", headers={"Authorization": "Bearer k"})
        self.assertEqual(self.host.sent, [("GET", "https://api.example/items", [("Authorization", b"Bearer k")], None)])
        self.assertEqual((reply.status, reply.headers["content-type"]), (200, "application/json"))
        self.assertEqual(reply.json(), {"ok": True})
        self.assertEqual(reply.text(), '{"ok": true}')
        self.assertIs(reply.raise_for_status(), reply)

    def test_post_json_sends_a_json_body(self):
        http.post_json("https://api.example/items", {"name": "x"})
        method, _, headers, body = self.host.sent[0]
        self.assertEqual(method, "POST")
        self.assertIn(("content-type", b"application/json"), headers)
        self.assertEqual(body, b'{"name": "x"}')

    def test_a_refusal_is_an_http_error_that_says_denied(self):
        with self.assertRaises(http.HttpError) as caught:
            http.get("https://denied.example/")
        self.assertEqual(caught.exception.code, "HTTP-request-denied")
        self.assertTrue(caught.exception.denied)

    def test_an_error_status_is_returned_until_raise_for_status(self):
        _host.install(HttpHost(status=503))
        reply = http.get("https://api.example/")
        self.assertEqual(reply.status, 503)
        with self.assertRaises(http.HttpError) as caught:
            reply.raise_for_status()
        self.assertEqual(caught.exception.code, "status-503")
        self.assertFalse(caught.exception.denied)

    def test_outside_a_component_it_says_so(self):
        _host.install(None)
        with self.assertRaisesRegex(RuntimeError, "inside a running task"):
            http.get("https://api.example/")


if __name__ == "__main__":
    unittest.main()
