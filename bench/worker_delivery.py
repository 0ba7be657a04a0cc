#!/usr/bin/python3
"""The client side of bench/worker_delivery_latency.sh and bench/worker_delivery_rate.sh (stdlib
and psycopg2 only).

  commit  DSN CHANNEL PREFIX COUNT RATE OUT   COUNT outbox rows at RATE a second, each in its
          own transaction with NOTIFY expense_ops_notifications and its own group (a group's
          notifications leave one at a time); OUT gets "key commit-returned-at" lines (epoch s)
  post    URL PAYLOAD PREFIX COUNT RATE OUT   the same COUNT, POSTed straight to URL over one
          kept-alive connection with the same body and headers; OUT gets "key sent-at" lines
  latency OUT SINK_LOG [LABEL]                joins OUT with the sink's "key msec ..." lines:
          prints "sent received p50 p99 max" (milliseconds from the client's time to receipt),
          and on stderr the p99 of each tenth of the run
  burst   DSN CHANNEL PREFIX COUNT TIMEOUT [analyze]
          COUNT rows and NOTIFY in one transaction (with "analyze", ANALYZE ops.notifications
          in it too); waits until CHANNEL has nothing left to send
          (polled every 0.05 s) or TIMEOUT seconds pass; prints "seconds delivered done|timeout",
          seconds from the commit, delivered the rows of PREFIX delivered
"""

import http.client
import math
import sys
import time
import urllib.parse

import psycopg2

# The rows delivery_test.py writes, as ops.queue_notifications would: one group per key.
ENQUEUE = """
INSERT INTO ops.notifications (channel, kind, target, group_key, idempotency_key, payload, firing, resolved,
                               next_attempt_at, created_at)
SELECT c.channel, c.kind, c.target, '{}/{channel="' || c.channel || '"}:{n="' || k || '"}', k,
       ops.webhook_payload(c.channel, '{}/{channel="' || c.channel || '"}:{n="' || k || '"}',
                           jsonb_build_object('n', k),
                           jsonb_build_array(jsonb_build_object(
                             'labels', jsonb_build_object('alertname', 'DeliveryBench', 'n', k, 'severity', 'high'),
                             'annotations', jsonb_build_object('summary', 'delivery benchmark ' || k),
                             'starts_at', now() - interval '1 minute', 'status', 'firing', 'generator_url', '')),
                           'http://127.0.0.1', 0),
       1, 0, now(), now()
  FROM ops.notification_channels c, unnest($2::text[]) k WHERE c.channel = $1"""


def paced(count, rate):
    """Yields 0..count-1, each no sooner than its slot at RATE a second (late ones at once)."""
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


def commit(dsn, channel, prefix, count, rate, out):
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    cursor = connection.cursor()
    cursor.execute("PREPARE enqueue(text, text[]) AS " + ENQUEUE)
    lines = []
    for i in paced(int(count), float(rate)):
        key = f"{prefix}-{i}"
        # One round trip: the statement returns once the COMMIT has.
        cursor.execute("BEGIN; EXECUTE enqueue(%s, ARRAY[%s]); NOTIFY expense_ops_notifications; COMMIT",
                       (channel, key))
        lines.append(f"{key} {time.time():.6f}\n")
    connection.close()
    with open(out, "w") as file:
        file.writelines(lines)


def post(url, payload_file, prefix, count, rate, out):
    with open(payload_file, "rb") as file:
        body = file.read()
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    lines = []
    for i in paced(int(count), float(rate)):
        key = f"{prefix}-{i}"
        sent = time.time()
        connection.request("POST", parts.path, body, {"Content-Type": "application/json", "Idempotency-Key": key})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"the sink answered {response.status}")
        lines.append(f"{key} {sent:.6f}\n")
    connection.close()
    with open(out, "w") as file:
        file.writelines(lines)


def percentile(ordered, q):
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency(out, sink_log, label="latency"):
    sent = {}
    with open(out) as file:
        for line in file:
            key, at = line.split()
            sent[key] = float(at)
    received = {}
    with open(sink_log) as file:
        for line in file:
            fields = line.split()
            if len(fields) >= 2 and fields[0] in sent and fields[0] not in received:
                received[fields[0]] = float(fields[1])
    in_order = [(received[key] - sent[key]) * 1000 for key in sorted(received, key=sent.get)]
    if not in_order:
        raise SystemExit("the sink received none of them")
    # How the p99 moves over the run: by tenths, in the order they were sent (on stderr).
    tenth = max(1, len(in_order) // 10)
    print(f"{label}: p99 by tenth of the run (ms):",
          " ".join(str(round(percentile(sorted(in_order[i:i + tenth]), 0.99))) for i in range(0, len(in_order), tenth)),
          file=sys.stderr)
    delays = sorted(in_order)
    print(len(sent), len(received), f"{percentile(delays, 0.5):.1f}", f"{percentile(delays, 0.99):.1f}",
          f"{delays[-1]:.1f}")


def burst(dsn, channel, prefix, count, timeout, analyze="no"):
    connection = psycopg2.connect(dsn)
    cursor = connection.cursor()
    keys = [f"{prefix}-{i}" for i in range(int(count))]
    cursor.execute(ENQUEUE.replace("$1", "%(channel)s").replace("$2", "%(keys)s"), {"channel": channel, "keys": keys})
    if analyze == "analyze":
        # The planner learns of the backlog in the transaction that makes it (ANALYZE counts the
        # transaction's own rows), as autovacuum's ANALYZE would tell it a minute or so later.
        cursor.execute("ANALYZE ops.notifications")
    cursor.execute("NOTIFY expense_ops_notifications")
    connection.commit()
    committed = time.perf_counter()
    connection.autocommit = True
    deadline = committed + float(timeout)
    done = False
    while time.perf_counter() < deadline:
        cursor.execute("SELECT NOT EXISTS (SELECT FROM ops.notifications WHERE channel = %s"
                       "                     AND status IN ('pending', 'sending', 'failed'))", (channel,))
        if cursor.fetchone()[0]:
            done = True
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - committed
    cursor.execute("SELECT count(*) FROM ops.notifications WHERE status = 'delivered' AND idempotency_key LIKE %s",
                   (prefix + "-%",))
    print(f"{seconds:.3f}", cursor.fetchone()[0], "done" if done else "timeout")


if __name__ == "__main__":
    commands = {"commit": commit, "post": post, "latency": latency, "burst": burst}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        raise SystemExit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
