#!/usr/bin/python3
"""The analysis of bench/worker_checks.sh (stdlib and psycopg2 only): how close to its schedule
each run of the checks named PREFIX* started, from their rows in ops.check_results.

  worker_checks.py DSN PREFIX EVERY_SECONDS

The worker (worker/check_schedule.cpp) gives each check its first run at load + offset, the
offset fixed by the check's id: FNV-1a (64 bits) of the id, modulo min(every, 10 s) in
milliseconds; then it keeps the cadence, run k due at load + offset + k * every. All the checks
arrive in one load, so every run's schedule is known up to one unknown instant, the load; it is
taken as the earliest (start - offset) of any first run, so the most punctual run counts as on
time and every lateness is measured against it. Prints:

  checks runs up_share on_time_share p50_late_ms p99_late_ms max_late_ms pairs pairs_within_share

on_time_share: the runs that started within 1 s of their schedule. The pairs are the
cross-check that needs no reconstruction: for each two consecutive runs of a check, the gap less
EVERY, within 1 s either way; it cannot see a lateness that all runs share.
"""

import math
import sys

import psycopg2

MAX_SPREAD = 10.0  # seconds: CheckScheduler's max_spread


def offset_seconds(check_id, every):
    span_ms = int(min(every, MAX_SPREAD) * 1000)
    digest = 14695981039346656037
    for byte in check_id.encode():
        digest ^= byte
        digest = (digest * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return (digest % span_ms) / 1000


def percentile(ordered, q):
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main(dsn, prefix, every):
    every = float(every)
    connection = psycopg2.connect(dsn)
    with connection.cursor() as cursor:
        cursor.execute("SELECT check_id, extract(epoch FROM started_at)::float8, outcome FROM ops.check_results"
                       " WHERE check_id LIKE %s ORDER BY check_id, started_at", (prefix + "%",))
        rows = cursor.fetchall()
    connection.close()
    runs = {}
    for check_id, started, outcome in rows:
        runs.setdefault(check_id, []).append((started, outcome))
    if not runs:
        raise SystemExit(f"no results for {prefix}*")
    shifted = {check_id: [started - offset_seconds(check_id, every) for started, _ in starts]
               for check_id, starts in runs.items()}
    load = min(starts[0] for starts in shifted.values())
    late = []
    for starts in shifted.values():
        for x in starts:
            k = round((x - load) / every)
            late.append(x - load - k * every)
    late.sort()
    pairs = [b - a - every for starts in runs.values() for (a, _), (b, _) in zip(starts, starts[1:])]
    up = sum(1 for starts in runs.values() for _, outcome in starts if outcome == "up")
    print(len(runs), len(late), f"{up / len(late):.3f}", f"{sum(1 for x in late if x <= 1.0) / len(late):.4f}",
          f"{percentile(late, 0.5) * 1000:.0f}", f"{percentile(late, 0.99) * 1000:.0f}", f"{late[-1] * 1000:.0f}",
          len(pairs), f"{sum(1 for d in pairs if abs(d) <= 1.0) / len(pairs):.4f}" if pairs else "nan")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
