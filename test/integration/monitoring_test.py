#!/usr/bin/python3
"""Monitoring loads from two connections at once, as the worker's LOGIN role: two loads that need
the same new partition both succeed, and a load racing a rollup is never lost from it.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import json
import sys
import threading

import psycopg2

import fixtures
from tap import check, finish

AT = "2026-06-10 12:00Z"  # the instant every call is made at


def requests(*rows):
    return json.dumps([{"at": at, "method": "GET", "route": "/expenses", "status": 200, "duration_ms": ms}
                       for at, ms in rows])


def ingest(connection, rows):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ops.ingest_requests(%s, %s)", (requests(*rows), AT))
        return cursor.fetchone()[0]


def in_thread(target):
    outcome = []

    def run():
        try:
            outcome.append(target())
        except psycopg2.Error as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def main(database, worker_dsn):
    first = psycopg2.connect(worker_dsn)
    second = psycopg2.connect(worker_dsn)

    # Two loads into a day without a partition: the first makes it and holds its transaction,
    # the second waits for it and then finds the partition instead of failing to make it again.
    rejected = ingest(first, [("2026-06-10T11:00:00Z", 1)])
    racer, outcome = in_thread(lambda: (ingest(second, [("2026-06-10T11:30:00Z", 2)]), second.commit())[0])
    racer.join(1.0)
    check("a second load that needs the same new partition waits for the first", racer.is_alive(),
          repr(outcome))
    first.commit()
    racer.join(20)
    check("and then succeeds", rejected == 0 and outcome == [0], repr(outcome))
    count = fixtures.value(database, "SELECT count(*) FROM ops.request_log")
    check("both loads are kept", count == 2, repr(count))

    # Concurrent loads released together, several times, into fresh days: none fails.
    for attempt in range(3):
        day = f"2026-06-0{attempt + 1}"
        barrier = threading.Barrier(2)

        def load(connection, minute):
            barrier.wait()
            result = ingest(connection, [(f"{day}T10:{minute:02d}:00Z", 5)])
            connection.commit()
            return result

        threads = [in_thread(lambda c=c, m=m: load(c, m)) for c, m in ((first, 1), (second, 2))]
        for thread, _ in threads:
            thread.join(20)
        results = [outcome for _, outcome in threads]
        check(f"race {attempt + 1}: two loads into a new day at once both succeed",
              results == [[0], [0]], repr(results))

    # A load that marks a minute while a rollup is clearing the marks: the rollup waits for it,
    # and the minute's rollup counts the load's row.
    with first.cursor() as cursor:
        cursor.execute("SELECT * FROM ops.rollup_requests(%s)", (AT,))
    first.commit()
    ingest(first, [("2026-06-10T11:00:10Z", 3)])  # marks 11:00 again, committed
    first.commit()
    ingest(second, [("2026-06-10T11:00:20Z", 4)])  # marks it once more, not yet committed

    def roll_up():
        with first.cursor() as cursor:
            cursor.execute("SELECT minutes FROM ops.rollup_requests(%s)", (AT,))
            minutes = cursor.fetchone()[0]
        first.commit()
        return minutes

    rollup, outcome = in_thread(roll_up)
    rollup.join(1.0)
    check("a rollup waits for a load that marked a minute it is about to clear", rollup.is_alive(),
          repr(outcome))
    second.commit()
    rollup.join(20)
    requests_at_11 = fixtures.value(
        database, "SELECT requests FROM ops.request_rollups WHERE minute = '2026-06-10 11:00Z'")
    check("and then counts the load's row in that minute", outcome == [1] and requests_at_11 == 3,
          repr((outcome, requests_at_11)))
    marks = fixtures.value(database, "SELECT count(*) FROM ops.request_minutes_to_roll")
    check("leaving no mark behind", marks == 0, repr(marks))

    for connection in (first, second):
        connection.close()
    return finish()


if __name__ == "__main__":
    with fixtures.worker_role() as worker, fixtures.database("expense_ops_monitoring") as db:
        sys.exit(main(db, fixtures.dsn(db, user=worker)))
