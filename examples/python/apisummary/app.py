"""Call a JSON API with a secret key, summarise its items and publish the summary as a
follow-up task.

Its queue needs (see examples/README.md):

    [queues.prices.grants]
    http = ["https://api.example.org"]          # the API, nothing else
    secrets = { API_KEY = { env = "PRICES_API_KEY" } }
    publish_to = ["summaries"]

``{"url": "https://api.example.org/items"}`` -> ``{"items": 4, "total": 26, "summary": "<task id>"}``
where the API answers ``{"items": [{"price": 3}, ...]}`` to ``Authorization: Bearer <key>``.
The key is read with ``config.secret`` and only ever sent to the API: never logged, never
returned, never part of an error.
"""

from wasmboost_guest import Fail, GrantError, config, http, publish, task


@task
def apisummary(url: str) -> dict:
    try:
        key = config.secret("API_KEY")
    except GrantError as err:
        raise Fail(f"no API key: {err}") from None
    try:
        reply = http.get(url, headers={"Authorization": f"Bearer {key}"})
    except http.HttpError as err:
        # Not granted (`HTTP-request-denied`) or unreachable: a plain failure naming the code.
        raise Fail(f"cannot reach the API: {err.code}") from None
    if reply.status != 200:
        raise Fail(f"the API answered {reply.status}")
    items = reply.json()["items"]
    summary = {"items": len(items), "total": sum(item["price"] for item in items)}
    task_id = publish("summaries", summary)
    return {**summary, "summary": task_id}
