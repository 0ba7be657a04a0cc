#!/usr/bin/python3
"""Slow statements on a live cluster, read as the worker's LOGIN role: ops.sample_statements()
snapshots pg_stat_statements (which make test and make run preload), ops.slow_statements() finds
another role's slow statement between two snapshots and survives a reset of the statistics, and
in a database without pg_stat_statements it falls back to pg_stat_activity and catches a
statement while it runs.

Runs alone (prove, or /usr/bin/python3 FILE) in databases of its own; see fixtures.py.
"""

import sys
import threading
import time

import fixtures
from tap import check, diag, finish


def rows(connection, sql, params=()):
    return fixtures.query(connection, sql, params)


def sleeps(result):
    """The rows of ops.slow_statements() for SELECT pg_sleep(...)."""
    return [row for row in result if "pg_sleep" in row[1]]


def main(with_statements, without_statements, worker):
    preload = fixtures.value("postgres", "SHOW shared_preload_libraries")
    if not check("the cluster preloads pg_stat_statements, as make test and make run do",
                 "pg_stat_statements" in preload, repr(preload)):
        return finish()

    admin = fixtures.connect(with_statements)
    rows(admin, "CREATE EXTENSION pg_stat_statements")
    as_worker = fixtures.connect(with_statements, user=worker)
    slow = "SELECT * FROM ops.slow_statements(%s, %s)"

    written = rows(as_worker, "SELECT ops.sample_statements('2026-09-10 12:00Z')")[0][0]
    check("the worker's sample writes this database's statements", written > 0, repr(written))
    again = rows(as_worker, "SELECT ops.sample_statements('2026-09-10 12:00Z')")[0][0]
    # Taken twice at one instant, a statement is kept once: the second sample adds only the
    # statement first seen in between, the first sample's own call.
    own = rows(as_worker, "SELECT count(*) FROM ops.statement_samples WHERE query LIKE 'SELECT ops.sample_statements%%'")
    check("a second sample at the same instant adds only what is new since the first",
          again == 1 and own == [(1,)], repr((again, own)))

    # The superuser runs a slow statement twice; the worker, another role, sees it.
    rows(admin, "SELECT pg_sleep(0.3)")
    rows(admin, "SELECT pg_sleep(0.3)")
    rows(as_worker, "SELECT ops.sample_statements('2026-09-10 12:05Z')")
    found = sleeps(rows(as_worker, slow, ("2026-09-10 11:59Z", "2026-09-10 12:06Z")))
    check("between two samples the slow statement ran twice, taking 300 ms each",
          len(found) == 1 and found[0][2] == 2 and 300 <= found[0][3] < 2000, repr(found))
    check("with its normalised text, its query id and its source",
          found and found[0][1] == "SELECT pg_sleep($1)" and found[0][0] is not None
          and found[0][5] == "pg_stat_statements", repr(found))

    # A reset in between: the counters start again, and the next sample counts from zero.
    rows(admin, "SELECT pg_stat_statements_reset()")
    rows(admin, "SELECT pg_sleep(0.1)")
    rows(as_worker, "SELECT ops.sample_statements('2026-09-10 12:10Z')")
    found = sleeps(rows(as_worker, slow, ("2026-09-10 11:59Z", "2026-09-10 12:11Z")))
    check("after a reset of pg_stat_statements the third run is counted, not subtracted",
          len(found) == 1 and found[0][2] == 3 and 700 <= found[0][4] < 4000, repr(found))
    partitions = rows(admin, "SELECT DISTINCT tableoid::regclass::text FROM ops.statement_samples")
    check("the samples land in the day's partition", partitions == [("ops.statement_samples_20260910",)],
          repr(partitions))

    # Without pg_stat_statements: nothing sampled, and what runs for over a second is caught.
    other = fixtures.connect(without_statements, user=worker)
    written = rows(other, "SELECT ops.sample_statements()")[0][0]
    check("where pg_stat_statements is not installed, a sample writes nothing", written == 0, repr(written))
    sleeper = fixtures.connect(without_statements)
    thread = threading.Thread(target=lambda: rows(sleeper, "SELECT pg_sleep(3)"))
    thread.start()
    time.sleep(1.5)
    found = sleeps(rows(other, "SELECT * FROM ops.slow_statements(now() - interval '1 hour')"))
    thread.join(10)
    check("a statement running for over 1 s is found in pg_stat_activity",
          len(found) == 1 and found[0][1] == "SELECT pg_sleep(3)" and found[0][2] == 1
          and 1000 <= found[0][3] == found[0][4] < 3500 and found[0][5] == "pg_stat_activity", repr(found))
    found = sleeps(rows(other, "SELECT * FROM ops.slow_statements(now() - interval '1 hour')"))
    check("and is gone once it has finished", found == [], repr(found))

    for connection in (admin, as_worker, other, sleeper):
        connection.close()
    diag(f"shared_preload_libraries = {preload}")
    return finish()


if __name__ == "__main__":
    with fixtures.worker_role() as worker, \
            fixtures.database("expense_ops_objectives") as with_statements, \
            fixtures.database("expense_ops_objectives_plain") as without_statements:
        sys.exit(main(with_statements, without_statements, worker))
