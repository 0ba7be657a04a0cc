#!/usr/bin/python3
"""End to end, with real parts (issue 11, section 8): an HTTP service the worker checks every
second fails; HealthCheckDown fires; a webhook receiver gets Alertmanager's v4 payload, and a real
Alertmanager (prometheus-alertmanager) gets the alert through an alertmanager channel; the
service recovers and the resolved notification arrives. The time from the first failing run to
the webhook is reported. A real Prometheus scrapes the worker's /metrics (up == 1, and a counter
rises), and /healthz answers 200, or 503 for a worker without its database.

Alertmanager and Prometheus run from this file, never as the Debian services: their own
configuration and storage in a temporary directory, on free ports of 127.0.0.1, as the
unprivileged server user when the test runs as root. Both are required dependencies
(scripts/install-deps.sh).

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import fixtures
from fixtures import Worker, tail, value, wait_until
from tap import check, diag, finish

DATABASE = "expense_ops_e2e"
CHECK_EVERY = 1  # second


def serve(handler_class, start_port):
    server = fixtures.QuietServer(("127.0.0.1", fixtures.free_port(start_port)), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Service:
    """The HTTP service under check: /health answers 200, or 503 while it is failing."""

    def __init__(self):
        self.failing = False
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status = 503 if service.failing else 200
                body = b'{"status":"down"}' if service.failing else b'{"status":"ok"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *arguments):
                pass

        self.server = serve(Handler, 18800)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"


class Receiver:
    """A webhook receiver: each POST's body and when it came."""

    def __init__(self):
        self.received = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((time.time(), self.headers.get("Idempotency-Key"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *arguments):
                pass

        self.server = serve(Handler, 18900)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def first(self, status):
        for at, key, payload in self.received:
            if payload.get("status") == status and any(
                    a["labels"].get("check_id") == "e2e.service" for a in payload.get("alerts", [])):
                return at, key, payload
        return None


class Daemon:
    """Alertmanager or Prometheus from this file, in DIRECTORY, as the server user."""

    def __init__(self, directory, name, command, paths):
        self.log = os.path.join(directory, f"{name}.log")
        with open(self.log, "w") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            **fixtures.as_server_user(*paths))

    def stop(self):
        fixtures.terminate(self.process)


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def alertmanager(work):
    port = fixtures.free_port(19193)
    directory = os.path.join(work, "alertmanager")
    storage = os.path.join(directory, "data")
    os.makedirs(storage)
    config = os.path.join(directory, "alertmanager.yml")
    with open(config, "w") as file:
        file.write("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
    daemon = Daemon(directory, "alertmanager",
                    ["/usr/bin/prometheus-alertmanager", f"--config.file={config}", f"--storage.path={storage}",
                     f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
                    [directory, storage, config])
    return daemon, f"http://127.0.0.1:{port}"


def prometheus(work, worker_port):
    port = fixtures.free_port(19190)
    directory = os.path.join(work, "prometheus")
    storage = os.path.join(directory, "data")
    os.makedirs(storage)
    config = os.path.join(directory, "prometheus.yml")
    with open(config, "w") as file:
        file.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: expense-ops-worker
    static_configs:
      - targets: ['127.0.0.1:{worker_port}']
""")
    daemon = Daemon(directory, "prometheus",
                    ["/usr/bin/prometheus", f"--config.file={config}", f"--storage.tsdb.path={storage}",
                     f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                    [directory, storage, config])
    return daemon, f"http://127.0.0.1:{port}"


def prometheus_value(url, expression):
    answer = get_json(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def notifies(connection, results):
    """The payloads of expense_ops_evaluate that recording RESULTS (check_id, seconds ago,
    outcome) sends, as the worker's LISTEN would receive them."""
    listener = fixtures.connect(DATABASE)
    fixtures.query(listener, "LISTEN expense_ops_evaluate")
    fixtures.query(connection, "SELECT * FROM ops.record_check_results(%s::jsonb)", (json.dumps([
        {"check_id": check_id, "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - ago)),
         "outcome": outcome, "duration_ms": 1, "status": 200 if outcome == "up" else 503,
         **({"detail": "worker_down", "status": None, "duration_ms": None} if outcome == "unknown" else {})}
        for check_id, ago, outcome in results]),))
    time.sleep(0.2)
    listener.poll()
    payloads = [n.payload for n in listener.notifies]
    listener.close()
    return payloads


def evaluation_requests():
    diag("which check results ask for an evaluation at once")
    connection = fixtures.connect(DATABASE)
    fixtures.query(connection, "INSERT INTO ops.checks (check_id, kind, target, every, timeout, enabled)"
                               " VALUES ('e2e.quiet', 'sql', 'SELECT true', '1 minute', '1 second', false)")
    check("a first result, up: none", notifies(connection, [("e2e.quiet", 300, "up")]) == [])
    check("up after up: none", notifies(connection, [("e2e.quiet", 240, "up")]) == [])
    check("down: check_consecutive_failures",
          notifies(connection, [("e2e.quiet", 180, "down")]) == ["check_consecutive_failures"])
    check("up after down: check_consecutive_failures",
          notifies(connection, [("e2e.quiet", 120, "up")]) == ["check_consecutive_failures"])
    check("unknown: none", notifies(connection, [("e2e.quiet", 60, "unknown")]) == [])
    fixtures.query(connection, "DELETE FROM ops.checks WHERE check_id = 'e2e.quiet'")
    connection.close()


def main():
    service = Service()
    receiver = Receiver()
    with fixtures.worker_role(), fixtures.database(DATABASE), fixtures.workdir("e2e-") as work:
        os.chmod(work, 0o755)
        evaluation_requests()
        manager, manager_url = alertmanager(work)
        connection = fixtures.connect(DATABASE)
        fixtures.query(connection, f"""
            UPDATE ops.notification_channels SET enabled = false;
            INSERT INTO ops.notification_channels (channel, kind, target, matchers, group_by, group_wait,
                                                   group_interval, repeat_interval)
            VALUES ('oncall', 'webhook', '{receiver.url}',
                    '[{{"name": "alertname", "op": "=", "value": "HealthCheckDown"}}]', '{{alertname, check_id}}',
                    '0', '1 second', '1 hour'),
                   ('alertmanager', 'alertmanager', '{manager_url}',
                    '[{{"name": "alertname", "op": "=", "value": "HealthCheckDown"}}]', '{{alertname, check_id}}',
                    '0', '1 second', '1 minute');
            UPDATE ops.checks SET enabled = false;
            INSERT INTO ops.checks (check_id, kind, target, method, expected_status, every, timeout)
            VALUES ('e2e.service', 'http', '{service.url}', 'GET', 200, '{CHECK_EVERY} second', '1 second')""")
        connection.close()
        # The evaluation's own interval stays at its default of 15 s: only the check's NOTIFY
        # can make the alert fire within two check intervals.
        with Worker(os.path.join(work, "worker.log"), "--listen-address", "127.0.0.1:0", "--log-level", "debug",
                    worker_id="e2e", dsn=fixtures.dsn(DATABASE, user="it_worker")) as worker:
            check("the worker listens for /metrics and /healthz",
                  wait_until(10, lambda: '"event":"listening"' in worker.output()), tail(worker.output(), 3))
            port = next(json.loads(line)["port"] for line in worker.output().splitlines()
                        if '"event":"listening"' in line)
            check("/healthz answers 200 once the jobs run",
                  wait_until(10, lambda: status_of(f"http://127.0.0.1:{port}/healthz")[0] == 200),
                  status_of(f"http://127.0.0.1:{port}/healthz"))
            scraper, prometheus_url = prometheus(work, port)
            try:
                check("the service is up", wait_until(10, lambda: value(
                    DATABASE, "SELECT outcome FROM ops.check_results WHERE check_id = 'e2e.service'"
                              " ORDER BY started_at DESC LIMIT 1") == "up"))
                time.sleep(2)
                service.failing = True
                failed_at = time.time()
                check("HealthCheckDown reaches the webhook",
                      wait_until(15, lambda: receiver.first("firing") is not None), tail(worker.output(), 5))
                firing = receiver.first("firing")
                first_down = value(DATABASE, "SELECT extract(epoch FROM min(started_at))::float8 FROM ops.check_results"
                                             " WHERE check_id = 'e2e.service' AND outcome = 'down'")
                if firing and first_down:
                    elapsed = firing[0] - first_down
                    diag(f"  from the first failing run to the webhook: {elapsed:.2f} s "
                         f"(from the service failing: {firing[0] - failed_at:.2f} s)")
                    check(f"within two check intervals plus a second ({elapsed:.2f} s)",
                          elapsed <= 2 * CHECK_EVERY + 1.0)
                payload = firing[2] if firing else {}
                alert = payload.get("alerts", [{}])[0]
                check("carrying the v4 payload: receiver, status, group labels and the alert",
                      payload.get("version") == "4" and payload.get("receiver") == "oncall"
                      and payload.get("groupLabels") == {"alertname": "HealthCheckDown", "check_id": "e2e.service"}
                      and alert.get("status") == "firing" and alert.get("fingerprint")
                      and alert.get("startsAt") and firing[1], json.dumps(payload)[:600])
                check("the real Alertmanager holds the alert, from the alertmanager channel",
                      wait_until(10, lambda: any(a["labels"].get("check_id") == "e2e.service"
                                                 and a["labels"].get("alertname") == "HealthCheckDown"
                                                 for a in get_json(f"{manager_url}/api/v2/alerts"))),
                      fixtures.read(manager.log)[-500:])
                service.failing = False
                check("the service recovers, and the resolved notification arrives",
                      wait_until(15, lambda: receiver.first("resolved") is not None), tail(worker.output(), 5))
                resolved = receiver.first("resolved")
                check("for the same group, with a new Idempotency-Key",
                      resolved and resolved[2]["groupKey"] == payload.get("groupKey") and resolved[1] != firing[1]
                      and resolved[2]["alerts"][0]["status"] == "resolved")
                check("Prometheus scrapes the worker: up == 1",
                      wait_until(20, lambda: prometheus_value(prometheus_url, 'up{job="expense-ops-worker"}') == 1),
                      fixtures.read(scraper.log)[-500:])
                expression = 'sum(expense_ops_worker_checks_total{check="e2e.service"})'
                wait_until(10, lambda: prometheus_value(prometheus_url, expression) is not None)
                before = prometheus_value(prometheus_url, expression)
                time.sleep(3)
                after = prometheus_value(prometheus_url, expression)
                check(f"and a counter rises ({before} -> {after})", before is not None and after is not None and after > before)
                delivered = prometheus_value(
                    prometheus_url, 'sum(expense_ops_worker_notifications_total{outcome="delivered"})')
                check("the deliveries are counted too", delivered is not None and delivered >= 3, str(delivered))
                metrics = status_of(f"http://127.0.0.1:{port}/metrics")[1].decode()
                check("no target URL or DSN in /metrics", receiver.url not in metrics and manager_url not in metrics
                      and "host=" not in metrics and "it_worker" not in metrics)
            finally:
                scraper.stop()
                manager.stop()
        with Worker(os.path.join(work, "away.log"), "--listen-address", "127.0.0.1:0", "--reconnect-max-delay", "1",
                    worker_id="e2e-away", dsn=f"host=127.0.0.1 port={fixtures.free_port(1)} dbname=nothing") as away:
            wait_until(10, lambda: '"event":"listening"' in away.output())
            away_port = next((json.loads(line)["port"] for line in away.output().splitlines()
                              if '"event":"listening"' in line), None)
            status, body = status_of(f"http://127.0.0.1:{away_port}/healthz") if away_port else (None, b"")
            check("/healthz answers 503 for a worker without its database",
                  status == 503 and json.loads(body)["database"] is False, f"{status} {body[:200]}")
    service.server.shutdown()
    receiver.server.shutdown()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
