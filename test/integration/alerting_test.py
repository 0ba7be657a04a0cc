#!/usr/bin/python3
"""Alert evaluation and the outbox from two connections at once, as the worker's LOGIN role:

  * two evaluations at the same instant: the second waits for the first, then finds every alert
    evaluated and moves nothing, so each transition and each notification is written once;
  * two workers claiming the outbox at once get disjoint notifications (FOR UPDATE SKIP LOCKED),
    and a worker cannot report on a notification another one holds;
  * a notification is written in the evaluation's transaction: rolled back, both go.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import sys
import threading

import psycopg2

import fixtures
from fixtures import query
from tap import check, finish

AT = "2026-06-10 12:00Z"


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


def evaluate(connection, at):
    with connection.cursor() as cursor:
        cursor.execute("SELECT transitions, notifications FROM ops.evaluate_alerts(%s)", (at,))
        return cursor.fetchone()


def setup(database):
    admin = fixtures.connect(database)
    query(admin, "SELECT count(*) FROM ops.maintain_partitions(%s)", (AT,))
    query(admin, "UPDATE ops.alert_rules SET enabled = false")
    query(admin, "UPDATE ops.notification_channels SET enabled = (channel = 'log')")
    # Twenty hosts, each its own group (group_by host): twenty alerts, twenty notifications.
    query(admin, "UPDATE ops.notification_channels SET group_by = '{host}' WHERE channel = 'log'")
    query(admin, "INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity)"
                 " VALUES ('RaceCpu', 'host_cpu_percent', '>', 80, 'high')")
    query(admin, "INSERT INTO ops.host_samples (host, at, cpu_percent)"
                 " SELECT 'host' || h, %s::timestamptz - s * interval '10 seconds', 95"
                 "   FROM generate_series(1, 20) h, generate_series(0, 5) s", (AT,))
    admin.close()


def main(database, worker_dsn):
    setup(database)
    first = psycopg2.connect(worker_dsn)
    second = psycopg2.connect(worker_dsn)

    # A rolled-back evaluation leaves neither transitions nor notifications behind.
    moved = evaluate(first, AT)
    first.rollback()
    left = fixtures.value(database, "SELECT (SELECT count(*) FROM ops.alert_events) + (SELECT count(*) FROM ops.notifications)")
    check("an evaluation that rolls back leaves nothing", moved == (20, 20) and left == 0, repr((moved, left)))

    # Two evaluations at the same instant.
    moved = evaluate(first, AT)  # holds the lock until it commits
    racer, outcome = in_thread(lambda: (evaluate(second, AT), second.commit())[0])
    racer.join(1.0)
    check("a second evaluation waits for the first", racer.is_alive(), repr(outcome))
    first.commit()
    racer.join(20)
    check("and then moves nothing", moved == (20, 20) and outcome == [(0, 0)], repr((moved, outcome)))
    counts = fixtures.value(database, "SELECT array[(SELECT count(*) FROM ops.alert_events),"
                                      " (SELECT count(*) FROM ops.notifications)]")
    check("each transition and notification is written once", counts == [20, 20], repr(counts))

    # Two workers claim at once: disjoint, and together everything.
    barrier = threading.Barrier(2)

    def claim(connection, worker):
        barrier.wait()
        with connection.cursor() as cursor:
            cursor.execute("SELECT notification_id FROM ops.claim_notifications(%s, 15, '1 minute', %s)",
                           (worker, AT))
            claimed = {row[0] for row in cursor.fetchall()}
        connection.commit()
        return claimed

    threads = [in_thread(lambda c=c, w=w: claim(c, w)) for c, w in ((first, "worker-a"), (second, "worker-b"))]
    for thread, _ in threads:
        thread.join(20)
    (a,), (b,) = (outcome for _, outcome in threads)
    check("two workers claiming at once get disjoint notifications",
          isinstance(a, set) and isinstance(b, set) and not (a & b) and len(a | b) == 20, repr((a, b)))

    # worker-b cannot report on worker-a's notification.
    taken = sorted(a)[0]
    with second.cursor() as cursor:
        try:
            cursor.execute("SELECT status FROM ops.notification_delivered(%s, 'worker-b', %s)", (taken, AT))
            refused = None
        except psycopg2.Error as error:
            refused = error.pgcode
    second.rollback()
    check("a worker cannot report on a notification another one holds (22X73)", refused == "22X73", repr(refused))
    with first.cursor() as cursor:
        cursor.execute("SELECT status FROM ops.notification_delivered(%s, 'worker-a', %s)", (taken, AT))
        status = cursor.fetchone()[0]
    first.commit()
    check("its holder can", status == "delivered", repr(status))

    for connection in (first, second):
        connection.close()
    return finish()


if __name__ == "__main__":
    with fixtures.worker_role() as worker, fixtures.database("expense_ops_alerting") as db:
        sys.exit(main(db, fixtures.dsn(db, user=worker)))
