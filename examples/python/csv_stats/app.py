"""Aggregate a CSV document by one column: count, sum, mean, median, min and max per group.

Standard library only. Rows whose value is not a number are skipped and reported (by line
number) instead of failing the whole message; a missing column fails the message, since
retrying cannot fix it.

    {"csv_text": "city,temp\\nOslo,3\\nOslo,5\\nRome,18\\n", "group_by": "city", "value": "temp"}
    -> {"rows": 3, "skipped": [], "groups": {"Oslo": {"count": 2, "sum": 8.0, ...}, ...}}
"""

import csv
import io
import logging
import statistics

from wasmboost_guest import Fail, task

log = logging.getLogger("csv_stats")

#: Report at most this many skipped lines, so a bad file cannot produce a huge result.
MAX_SKIPPED_REPORTED = 20


def _summary(values: list[float]) -> dict:
    return {
        "count": len(values),
        "sum": round(sum(values), 6),
        "mean": round(statistics.fmean(values), 6),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def _read(csv_text: str, delimiter: str) -> csv.DictReader:
    reader = csv.DictReader(io.StringIO(csv_text), delimiter=delimiter)
    if not reader.fieldnames:
        raise Fail("csv_text has no header row")
    return reader


@task
def csv_stats(csv_text: str, group_by: str, value: str, delimiter: str = ",") -> dict:
    reader = _read(csv_text, delimiter)
    for column in (group_by, value):
        if column not in reader.fieldnames:
            raise Fail(f"column {column!r} not in header {reader.fieldnames}")
    groups: dict[str, list[float]] = {}
    skipped: list[int] = []
    rows = 0
    for row in reader:
        rows += 1
        try:
            number = float(row[value])
        except (TypeError, ValueError):
            skipped.append(reader.line_num)
            continue
        groups.setdefault(row[group_by], []).append(number)
    if skipped:
        log.warning("skipped %d rows with a non-numeric %r", len(skipped), value)
    return {
        "rows": rows,
        "skipped": skipped[:MAX_SKIPPED_REPORTED],
        "groups": {key: _summary(vals) for key, vals in sorted(groups.items())},
    }
