"""Count events per kind across tasks in the queue's kv namespace, publish a summary task to
another queue every ``every`` events, and tag it with a configured value.

Its queue needs (see examples/README.md):

    [queues.events.grants]
    kv = true
    publish_to = ["summaries"]
    config = { SOURCE = "checkout" }

``{"kind": "order"}`` -> ``{"kind": "order", "count": 3, "summary": null}``; the task whose
count reaches a multiple of ``every`` publishes ``{"kind": ..., "count": ..., "source": ...}``
to ``summaries`` and returns the new task's id as ``summary``.
"""

from wasmboost_guest import GrantError, Fail, config, kv, publish, task


@task
def kvcount(kind: str, every: int = 10) -> dict:
    if every < 1:
        raise Fail(f"every must be at least 1, got {every}")
    try:
        count = kv.incr(f"count:{kind}")
    except GrantError as err:
        # Not granted or over the quota: a plain failure, with the host's reason.
        raise Fail(f"cannot count {kind!r}: {err}") from None
    summary = None
    if count % every == 0:
        source = config.get("SOURCE")
        summary = publish("summaries", {"kind": kind, "count": count, "source": source})
    return {"kind": kind, "count": count, "summary": summary}
