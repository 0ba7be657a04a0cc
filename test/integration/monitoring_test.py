#!/usr/bin/python3
"""Monitoring loads from two connections at once, as the worker's LOGIN role: two loads that need
the same new partition both succeed, and a load racing a rollup (through the loading functions
or a COPY straight into the log) is never lost from it.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import io
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

    # A load racing a rollup, through ingest_requests or a COPY straight into the log by its
    # owner: the rollup neither waits for it nor sees it, the load's mark outlives the rollup,
    # and the next rollup counts the load's rows. Nothing waits for anything.
    def roll_up():
        with first.cursor() as cursor:
            cursor.execute("SELECT minutes FROM ops.rollup_requests(%s)", (AT,))
            minutes = cursor.fetchone()[0]
        first.commit()
        return minutes

    def rolled(minute):
        return fixtures.value(database, f"SELECT requests FROM ops.request_rollups WHERE minute = '{minute}'")

    roll_up()
    ingest(first, [("2026-06-10T11:00:10Z", 3)])  # marks 11:00 again, committed
    first.commit()
    owner = fixtures.connect(database, autocommit=False)
    loads = {
        "ingest_requests": lambda: ingest(second, [("2026-06-10T11:00:20Z", 4)]),
        "a COPY": lambda: owner.cursor().copy_expert(
            "COPY ops.request_log (at, method, route, status, duration_ms) FROM STDIN (FORMAT csv)",
            io.StringIO("2026-06-10T11:00:30Z,GET,/expenses,200,6\n2026-06-10T11:05:40Z,GET,/expenses,200,7\n")),
    }
    expected_at_1100 = 2  # the two committed rows from the loads above
    for name, load in loads.items():
        load()  # marks its minutes, not committed
        connection = second if name == "ingest_requests" else owner
        rollup, outcome = in_thread(roll_up)
        rollup.join(10)
        check(f"a rollup does not wait for an uncommitted load through {name}",
              not rollup.is_alive() and len(outcome) == 1 and not isinstance(outcome[0], Exception),
              repr(outcome))
        check(f"nor counts its rows", rolled("2026-06-10 11:00Z") == expected_at_1100,
              repr(rolled("2026-06-10 11:00Z")))
        connection.commit()
        expected_at_1100 += 1
        marks = fixtures.value(database, "SELECT count(*) FROM ops.request_minutes_to_roll WHERE minute = '2026-06-10 11:00Z'")
        check(f"the mark of the load through {name} outlives that rollup", marks == 1, repr(marks))
        rollup, outcome = in_thread(roll_up)
        rollup.join(20)
        check(f"and the next rollup counts its rows", outcome and outcome[0] >= 1
              and rolled("2026-06-10 11:00Z") == expected_at_1100, repr((outcome, rolled("2026-06-10 11:00Z"))))
    check("a COPY's other minute is counted too", rolled("2026-06-10 11:05Z") == 1, repr(rolled("2026-06-10 11:05Z")))
    marks = fixtures.value(database, "SELECT count(*) FROM ops.request_minutes_to_roll")
    check("leaving no mark behind", marks == 0, repr(marks))

    # Two loads that write the same minutes in opposite orders, both open at once: marks are
    # plain inserts, so neither waits for the other (and they cannot deadlock).
    owner_load = lambda rows: owner.cursor().copy_expert(
        "COPY ops.request_log (at, method, route, status, duration_ms) FROM STDIN (FORMAT csv)",
        io.StringIO("".join(f"{at},GET,/expenses,200,1\n" for at in rows)))
    ingest(second, [("2026-06-10T11:10:10Z", 1), ("2026-06-10T11:11:10Z", 1)])
    racer, outcome = in_thread(lambda: owner_load(["2026-06-10T11:11:20Z", "2026-06-10T11:10:20Z"]))
    racer.join(10)
    check("two open loads of the same minutes in opposite orders do not wait for each other",
          not racer.is_alive() and outcome == [None], repr(outcome))
    second.commit()
    owner.commit()
    roll_up()
    both = fixtures.value(database, "SELECT sum(requests) FROM ops.request_rollups WHERE minute IN ('2026-06-10 11:10Z', '2026-06-10 11:11Z')")
    check("and the rollup counts all four rows", both == 4, repr(both))
    owner.close()

    for connection in (first, second):
        connection.close()
    return finish()


if __name__ == "__main__":
    with fixtures.worker_role() as worker, fixtures.database("expense_ops_monitoring") as db:
        sys.exit(main(db, fixtures.dsn(db, user=worker)))
