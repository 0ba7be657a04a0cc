#!/usr/bin/python3
"""The worker ships log files (issue 11, section 4): an nginx JSON access log and a combined one
to ops.request_log, PostgreSQL's jsonlog to ops.error_events. Every line arrives once: across a
rename rotation, a copytruncate, and a kill -9 of the worker between reads; a bad line is refused
with its reason and the rest kept; ops.ship_log() refuses lines shipped from the wrong offset.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import datetime
import json
import os
import signal
import sys

import psycopg2

import fixtures
from fixtures import Worker, tail, value, wait_until
from tap import check, diag, finish

DATABASE = "expense_ops_ship"


def now_iso(offset_seconds=0):
    instant = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return instant.isoformat(timespec="milliseconds")


def json_line(route, status=200, seconds=0.012):
    return json.dumps({"time": now_iso(), "method": "GET", "uri": route, "status": status,
                       "request_time": seconds}) + "\n"


def append(path, text):
    with open(path, "a") as file:
        file.write(text)


def requests(route_prefix):
    return value(DATABASE, "SELECT count(*) FROM ops.request_log WHERE route LIKE %s", (route_prefix + "%",))


def start(work, logs, name):
    arguments = ["--ship-logs-interval", "0.2"]
    for log in logs:
        arguments += ["--ship-log", log]
    return Worker(os.path.join(work, name), *arguments, worker_id="it-ship",
                  dsn=fixtures.dsn(DATABASE, user="it_worker"))


def main(work):
    value(DATABASE, "SELECT count(*) FROM ops.maintain_partitions()")
    access = os.path.join(work, "access.json")
    combined = os.path.join(work, "access.log")
    jsonlog = os.path.join(work, "postgresql.json")
    append(access, json_line("/a/1") + json_line("/a/2") + "not json at all\n"
           + json_line("/a/bad", status=700) + json_line("/a/3"))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
    append(combined, f'127.0.0.1 - - [{stamp}] "POST /c/login?x=1 HTTP/1.1" 403 52 "-" "curl" 0.035\n'
                     f'127.0.0.1 - - [{stamp}] "GET /c/plain HTTP/1.1" 200 5 "-" "curl"\n')
    append(jsonlog, json.dumps({"timestamp": now_iso(), "error_severity": "ERROR", "state_code": "23505",
                                "message": "duplicate key value violates unique constraint"}) + "\n"
           + json.dumps({"timestamp": now_iso(), "error_severity": "LOG", "message": "checkpoint"}) + "\n")
    logs = [f"web:json:{access}", f"legacy:combined:{combined}", f"postgres:jsonlog:{jsonlog}"]

    diag("three formats")
    with start(work, logs, "ship1.log") as worker:
        check("the JSON access log's good lines arrive", wait_until(10, lambda: requests("/a/") == 3),
              tail(worker.output(), 3))
        check("the combined log's line with a request time arrives, the one without is refused",
              wait_until(10, lambda: requests("/c/") == 1 and value(
                  DATABASE, "SELECT rejected FROM ops.log_offsets WHERE source = 'legacy'") == 1))
        check("a combined route loses its query string",
              value(DATABASE, "SELECT route FROM ops.request_log WHERE route LIKE '/c/%%'") == "/c/login")
        check("the jsonlog ERROR becomes an error event; the LOG line does not",
              wait_until(10, lambda: value(DATABASE, "SELECT count(*) FROM ops.error_events"
                                                     " WHERE sqlstate = '23505'") == 1))
        offsets = fixtures.query(ADMIN, "SELECT source, kind, offset_bytes, lines, rejected FROM ops.log_offsets"
                                        " ORDER BY source")
        check("each file's offset is its size, with its lines and refusals counted",
              offsets == [("legacy", "access", os.path.getsize(combined), 2, 1),
                          ("postgres", "jsonlog", os.path.getsize(jsonlog), 2, 0),
                          ("web", "access", os.path.getsize(access), 4, 1)], repr(offsets))
        check("the unparsable and the refused lines are in the log with their reasons",
              "log_line_unparsable" in worker.output() and "status" in worker.output(), tail(worker.output(), 5))

        diag("rotation")
        append(access, json_line("/a/4"))
        os.rename(access, access + ".1")
        append(access + ".1", json_line("/a/5"))  # nginx writes to the old file until it reopens
        append(access, json_line("/a/6"))
        check("a rename rotation: the old file read to its end, then the new one",
              wait_until(10, lambda: requests("/a/") == 6), str(requests("/a/")))
        with open(access, "r+") as file:  # copytruncate
            file.truncate(0)
        append(access, json_line("/a/7"))
        check("a copytruncate: read again from the start", wait_until(10, lambda: requests("/a/") == 7),
              str(requests("/a/")))

    diag("a kill -9 between reads")
    worker = start(work, logs, "ship2.log")
    with worker:
        wait_until(10, lambda: worker.count("connected") >= 1)
        worker.signal(signal.SIGKILL)
        worker.wait()
    for i in range(8, 12):
        append(access, json_line(f"/a/{i}"))
    with start(work, logs, "ship3.log") as worker:
        check("a restarted worker goes on from the recorded offset: nothing lost, nothing twice",
              wait_until(10, lambda: requests("/a/") == 11), str(requests("/a/")))
        check("no route twice", value(DATABASE, "SELECT count(*) = count(DISTINCT route) FROM ops.request_log"))

    diag("ops.ship_log refuses the wrong offset")
    file_id = value(DATABASE, "SELECT file_id FROM ops.log_offsets WHERE source = 'web'")
    for sql, params, name in [
        ("SELECT * FROM ops.ship_log('web', 'access', %s, 0, 10, '[]')", (file_id,), "lines shipped already"),
        ("SELECT * FROM ops.ship_log('web', 'access', '1:2:3', 5, 10, '[]')", (), "a new file not from 0"),
        ("SELECT * FROM ops.ship_log('web', 'jsonlog', %s, 0, 0, '[]')", (file_id,), "another kind"),
        ("SELECT * FROM ops.ship_log('web', 'access', %s, 10, 5, '[]')", (file_id,), "a backwards range"),
    ]:
        try:
            fixtures.query(ADMIN, sql, params)
            check(f"refuses {name}", False, "accepted")
        except psycopg2.Error as error:
            check(f"refuses {name} ({error.pgcode})", error.pgcode in ("22X74", "22023"), str(error))
    return finish()


ADMIN = None

if __name__ == "__main__":
    with fixtures.workdir("expense_ops_ship.") as work, fixtures.worker_role(), fixtures.database(DATABASE):
        os.chmod(work, 0o755)
        ADMIN = fixtures.connect(DATABASE)
        try:
            sys.exit(main(work))
        finally:
            ADMIN.close()
