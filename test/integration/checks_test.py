#!/usr/bin/python3
"""The worker runs the checks of ops.checks against real endpoints (issue 11, sections 1 and 2):
an HTTP server of the test's own (a status, a body, a redirect, a slow answer, a login and a
route behind it), a TCP port open and one closed, a database connection named in the worker's
configuration, and SQL probes. Each result lands in ops.check_results with its outcome, status,
timings and reason; the runs missed while no worker ran are recorded as unknown (worker_down);
a change to ops.checks takes effect without a restart; no secret reaches the log or a result.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fixtures
from fixtures import Worker, tail, value, wait_until
from tap import check, diag, finish

DATABASE = "expense_ops_checks"
PASSWORD = "S3CRET-monitor-pw"
TOKEN = "token-for-the-monitoring-account"


class Endpoints(BaseHTTPRequestHandler):
    def log_message(self, *arguments):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, header_value in headers:
            self.send_header(name, header_value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:
            pass  # the check timed out and hung up, as it should

    def do_GET(self):
        if self.path == "/ok":
            self.answer(200, b'{"status": "healthy"}')
        elif self.path == "/error":
            self.answer(500, b'{"status": "broken"}')
        elif self.path == "/redirect":
            self.answer(302, b"", [("Location", "/ok")])
        elif self.path == "/slow":
            time.sleep(3)
            self.answer(200, b"late")
        elif self.path.startswith("/expenses"):
            authorised = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            self.answer(200 if authorised else 401, b"[]")
        else:
            self.answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/rpc/login" and body == {"email": "monitor@example.com", "password": PASSWORD}:
            self.answer(200, json.dumps({"token": TOKEN, "token_type": "bearer"}).encode())
        else:
            self.answer(403, b'{"error": "invalid_credentials"}')


def results(check_id, outcome=None):
    return value(DATABASE, "SELECT count(*) FROM ops.check_results WHERE check_id = %s"
                           " AND (%s::text IS NULL OR outcome = %s)", (check_id, outcome, outcome))


def latest(check_id):
    return fixtures.query(ADMIN, "SELECT outcome, status, detail, timings FROM ops.check_results"
                                 " WHERE check_id = %s ORDER BY started_at DESC LIMIT 1", (check_id,))[0]


def main(work, http_port):
    # A port bound and never listened on: a connect is refused, and no other process can take it
    # meanwhile (a port that was merely free when looked at could be).
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    fixtures.query(ADMIN, "UPDATE ops.checks SET enabled = false")
    fixtures.query(ADMIN, "UPDATE ops.monitoring_settings SET base_url = %s", (f"http://127.0.0.1:{http_port}",))
    url = f"http://127.0.0.1:{http_port}"
    fixtures.query(ADMIN, """
        INSERT INTO ops.checks (check_id, kind, target, method, body, expected_status, expected_body, credentials,
                                every, timeout) VALUES
          ('it.ok', 'http', %(url)s || '/ok', 'GET', NULL, 200, 'healthy', NULL, '1 second', '1 second'),
          ('it.relative', 'http', '/ok', 'GET', NULL, 200, NULL, NULL, '1 second', '1 second'),
          ('it.error', 'http', '/error', 'GET', NULL, 200, NULL, NULL, '1 second', '1 second'),
          ('it.redirect', 'http', '/redirect', 'GET', NULL, 200, NULL, NULL, '1 second', '1 second'),
          ('it.slow', 'http', '/slow', 'GET', NULL, 200, NULL, NULL, '2 seconds', '1 second'),
          ('it.login', 'http', '/rpc/login', 'POST', NULL, 200, '"token"', 'monitoring', '1 second', '1 second'),
          ('it.authed', 'http', '/expenses?limit=1', 'GET', NULL, 200, NULL, 'monitoring', '1 second', '1 second'),
          ('it.no-secret', 'http', '/expenses', 'GET', NULL, 200, NULL, 'nobody', '1 second', '1 second'),
          ('it.tcp-open', 'tcp', '127.0.0.1:' || %(port)s, NULL, NULL, NULL, NULL, NULL, '1 second', '1 second'),
          ('it.tcp-closed', 'tcp', '127.0.0.1:' || %(closed)s, NULL, NULL, NULL, NULL, NULL, '1 second', '1 second'),
          ('it.db', 'db', 'primary', NULL, NULL, NULL, NULL, NULL, '1 second', '1 second'),
          ('it.db-unnamed', 'db', 'nowhere', NULL, NULL, NULL, NULL, NULL, '1 second', '1 second'),
          ('it.sql-true', 'sql', 'SELECT count(*) >= 0 FROM ops.checks', NULL, NULL, NULL, NULL, NULL, '1 second', '1 second'),
          ('it.sql-false', 'sql', 'SELECT false', NULL, NULL, NULL, NULL, NULL, '1 second', '1 second'),
          ('it.sql-slow', 'sql', 'SELECT pg_sleep(3) IS NOT NULL', NULL, NULL, NULL, NULL, NULL, '5 seconds', '1 second')
        """, {"url": url, "port": str(http_port), "closed": str(closed_port)})

    config = os.path.join(work, "worker.conf")
    with open(config, "w") as file:
        file.write(f"credential = monitoring:monitor@example.com:{PASSWORD}\n"
                   f"check-connection = primary: {fixtures.dsn(DATABASE)}\n"
                   "check-threads = 8\n")
    os.chmod(config, 0o600)

    diag("each kind of check, against the real thing")
    log_path = os.path.join(work, "checks.log")
    with Worker(log_path, "--config", config, "--heartbeat-interval", "1", worker_id="it-checks",
                dsn=fixtures.dsn(DATABASE, user="it_worker")) as worker:
        check("results arrive", wait_until(20, lambda: results("it.sql-slow") >= 1 and results("it.slow") >= 3
                                           and results("it.ok") >= 5),
              tail(worker.output(), 5))
        first_stop = value(DATABASE, "SELECT now()")
        worker.stop()
        log = worker.output()

    expectations = {
        "it.ok": ("up", 200, None), "it.relative": ("up", 200, None),
        "it.error": ("down", 500, "status 500, expected 200"),
        "it.redirect": ("down", 302, "status 302, expected 200"),
        "it.slow": ("down", None, "timed out after 1000 ms"),
        "it.login": ("up", 200, None), "it.authed": ("up", 200, None),
        "it.no-secret": ("unknown", None, "credential nobody is not in the worker's configuration"),
        "it.tcp-open": ("up", None, None), "it.tcp-closed": ("down", None, None),
        "it.db": ("up", None, None),
        "it.db-unnamed": ("unknown", None, "connection nowhere is not in the worker's configuration"),
        "it.sql-true": ("up", None, None),
        "it.sql-false": ("down", None, "the probe did not return one row holding true"),
        "it.sql-slow": ("down", None, "canceling statement due to statement timeout"),
    }
    for check_id, (outcome, status, detail) in expectations.items():
        got = latest(check_id)
        ok = got[0] == outcome and got[1] == status and (detail is None or (got[2] or "").startswith(detail))
        check(f"{check_id}: {outcome}" + (f" ({detail})" if detail else ""), ok, repr(got))
    timings = latest("it.ok")[3]
    check("an http result carries its timing breakdown",
          all(phase in timings for phase in ("dns_ms", "connect_ms", "first_byte_ms", "total_ms")), repr(timings))
    ok_runs = results("it.ok")
    span = value(DATABASE, "SELECT extract(epoch FROM max(started_at) - min(started_at)) FROM ops.check_results"
                           " WHERE check_id = 'it.ok'")
    check(f"a 1 s check ran about once a second ({ok_runs} runs in {span:.1f} s)",
          ok_runs >= 5 and abs(float(span) - (ok_runs - 1)) < 1.5)
    slow_starts = fixtures.query(ADMIN, "SELECT started_at FROM ops.check_results WHERE check_id = 'it.slow'"
                                        " AND outcome <> 'unknown' ORDER BY started_at")
    gaps = [(b[0] - a[0]).total_seconds() for a, b in zip(slow_starts, slow_starts[1:])]
    check(f"a 2 s check kept its interval ({gaps})", len(gaps) >= 2 and all(1.5 <= gap <= 2.6 for gap in gaps))
    check("the secret never reaches the log", PASSWORD not in log and TOKEN not in log, tail(log, 3))
    check("nor a result", value(DATABASE, "SELECT count(*) FROM ops.check_results WHERE detail LIKE %s",
                                (f"%{PASSWORD}%",)) == 0)

    diag("runs missed while no worker ran")
    time.sleep(4)
    fixtures.query(ADMIN, "UPDATE ops.checks SET enabled = false WHERE check_id <> 'it.ok'")
    with Worker(os.path.join(work, "restart.log"), "--config", config, worker_id="it-checks",
                dsn=fixtures.dsn(DATABASE, user="it_worker")) as worker:
        check("the restarted worker records the gap's runs as unknown (worker_down)",
              wait_until(10, lambda: value(DATABASE, "SELECT count(*) FROM ops.check_results WHERE check_id = 'it.ok'"
                                                     " AND outcome = 'unknown' AND detail = 'worker_down'"
                                                     " AND started_at > %s", (first_stop,)) >= 2),
              tail(worker.output(), 3))
        check("and says so", wait_until(5, lambda: worker.count("checks_missed_while_down") == 1))
        before = results("it.ok")
        check("and then checks again", wait_until(10, lambda: results("it.ok", "up") and results("it.ok") > before + 1))

        diag("a change to ops.checks without a restart")
        fixtures.query(ADMIN, "UPDATE ops.checks SET enabled = false WHERE check_id = 'it.ok'")
        time.sleep(2.5)  # the NOTIFY (the reload interval is 10 s), and a run in flight
        stopped_at = results("it.ok")
        time.sleep(2.5)
        check("a disabled check stops running", results("it.ok") == stopped_at, f"{stopped_at} -> {results('it.ok')}")
        errors_before = results("it.error")
        fixtures.query(ADMIN, "UPDATE ops.checks SET enabled = true WHERE check_id = 'it.error'")
        check("an enabled one starts", wait_until(10, lambda: results("it.error") > errors_before + 1))

        diag("a stop does not wait for a long check")
        fixtures.query(ADMIN, "INSERT INTO ops.checks (check_id, kind, target, every, timeout) VALUES"
                              " ('it.sql-long', 'sql', 'SELECT pg_sleep(60) IS NOT NULL', '2 minutes', '90 seconds')")
        check("the long probe runs", wait_until(10, lambda: value(
            DATABASE, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'"
                      " AND application_name = 'expense-ops-worker check'") == 1))
        stopping = time.monotonic()
        worker.stop()
        elapsed = time.monotonic() - stopping
        check(f"SIGTERM cancels it and the worker exits promptly ({elapsed:.1f} s)",
              elapsed < 3 and worker.process.returncode == 0, tail(worker.output(), 3))
        check("and the cancelled statement is gone from the server", wait_until(5, lambda: value(
            DATABASE, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'") == 0))
    return finish()


ADMIN = None

if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoints)  # a port of the kernel's choosing
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with fixtures.workdir("expense_ops_checks.") as work, fixtures.worker_role(), fixtures.database(DATABASE):
        ADMIN = fixtures.connect(DATABASE)
        try:
            sys.exit(main(work, port))
        finally:
            ADMIN.close()
            server.shutdown()
