#!/usr/bin/python3
"""A real Alertmanager 0.25 (Debian's prometheus-alertmanager) against the payload builders:
ops.alertmanager_payload() makes a body Alertmanager takes, refuses what Alertmanager refuses,
and ops.webhook_payload() makes, field by field, the payload Alertmanager's webhook notifier
sends for the same alerts and group, fingerprints included.

Alertmanager runs from this file, never as the Debian service: its own configuration and
storage in a temporary directory, on a free port of 127.0.0.1, without clustering, as the
unprivileged server user when the test runs as root. A webhook receiver in this file collects
what it sends. Both are stopped and the directory removed whatever happens. Alertmanager is a
required dependency (scripts/install-deps.sh): without it the file fails.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import psycopg2

import fixtures
from tap import check, diag, finish

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
RECEIVER = "expense-ops.webhook"  # the dot shows Alertmanager's escaping of the name
MAX_ALERTS = 3

# The alerts, as an outbox writer would hold them. Times are seconds before now(); SQL turns them
# into timestamptz and jsonb_build_object writes them, in a session whose time zone is not UTC.
# Posted in this order, which is not the order Alertmanager sends them in (by instance).
API_DOWN = [
    {"labels": {"alertname": "ExpenseOpsApiDown", "instance": "api-2", "severity": "critical", "note": ""},
     "annotations": {"summary": "api.health() is down", "runbook": "docs/operations.md", "empty": ""},
     "started": 600.123456, "status": "firing", "url": "http://127.0.0.1:3000/rpc/health?i=2&x=<y>"},
    {"labels": {"alertname": "ExpenseOpsApiDown", "instance": "api-3", "severity": "critical"},
     "annotations": {"summary": "api.health() is down"},
     "started": 300, "status": "firing", "url": ""},
    {"labels": {"alertname": "ExpenseOpsApiDown", "instance": "api-0", "severity": "warning"},
     "annotations": {"summary": "api.health() was degraded", "runbook": "docs/operations.md", "empty": ""},
     "started": 1200.5, "ended": 60.25, "status": "resolved", "url": ""},
    {"labels": {"alertname": "ExpenseOpsApiDown", "instance": "api-1", "severity": "critical"},
     "annotations": {"summary": "api.health() is down", "runbook": "docs/operations.md", "empty": ""},
     "started": 900, "status": "firing", "url": "http://127.0.0.1:3000/rpc/health?i=1"},
]
SLOW = {"labels": {"alertname": "ExpenseOpsSlowQueries", "job": "postgres", "severity": "warning"},
        "annotations": {"summary": "a query took more than 1000 ms"},
        "started": 120, "status": "firing", "url": ""}

ALERTS_SQL = """
SELECT coalesce(jsonb_agg(jsonb_build_object(
         'labels', s -> 'labels', 'annotations', s -> 'annotations',
         'starts_at', now() - make_interval(secs => (s ->> 'started')::float8),
         'ends_at', now() - make_interval(secs => (s ->> 'ended')::float8),
         'generator_url', s ->> 'url', 'status', s ->> 'status') ORDER BY n), '[]')
  FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(s, n)
"""


class Sink:
    """A webhook receiver on 127.0.0.1: keeps every JSON body POSTed to it."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink.lock:
                    sink.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *arguments):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", fixtures.free_port(19100)), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def find(self, group_label, status=None):
        with self.lock:
            for body in self.bodies:
                if body.get("groupLabels", {}).get("alertname") == group_label and \
                        (status is None or body.get("status") == status):
                    return body
        return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Alertmanager:
    """prometheus-alertmanager with its own configuration and storage in DIRECTORY."""

    def __init__(self, directory, sink_port):
        self.port = fixtures.free_port(19093)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(directory, "alertmanager.log")
        config = os.path.join(directory, "alertmanager.yml")
        storage = os.path.join(directory, "data")
        os.mkdir(storage)
        with open(config, "w") as file:
            file.write(f"""
route:
  receiver: {RECEIVER}
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: {RECEIVER}
    webhook_configs:
      - url: http://127.0.0.1:{sink_port}/hook
        send_resolved: true
        max_alerts: {MAX_ALERTS}
""")
        as_user = fixtures.as_server_user(directory, storage, config)
        with open(self.log, "w") as output:
            self.process = subprocess.Popen(
                [ALERTMANAGER, f"--config.file={config}", f"--storage.path={storage}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 f"--web.external-url={self.url}", "--log.level=warn"],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, **as_user)

    def ready(self):
        return self.process.poll() is None and request("GET", f"{self.url}/-/ready")[0] == 200

    def stop(self):
        fixtures.terminate(self.process)

    def output(self):
        return fixtures.read(self.log)


def request(method, url, body=None):
    """The status and the decoded body (JSON when it parses) of an HTTP request."""
    data = None if body is None else json.dumps(body).encode()
    outgoing = urllib.request.Request(url, data=data, method=method,
                                      headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(outgoing, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    except OSError as error:
        return None, str(error)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def sql_value(connection, sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def sqlstate_of(connection, sql, params=()):
    """The SQLSTATE a statement fails with, or None when it succeeds."""
    try:
        sql_value(connection, sql, params)
        return None
    except psycopg2.Error as error:
        return error.pgcode


def compare(name, ours, theirs):
    """Checks the webhook payload we build against Alertmanager's, field by field."""
    check(f"{name}: the same top-level keys", sorted(ours) == sorted(theirs),
          f"ours {sorted(ours)}\ntheirs {sorted(theirs)}")
    for key in ("version", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations",
                "externalURL", "groupKey", "truncatedAlerts"):
        check(f"{name}: {key} is Alertmanager's ({json.dumps(theirs.get(key))})",
              ours.get(key) == theirs.get(key), f"ours {json.dumps(ours.get(key))}")
    our_alerts, their_alerts = ours.get("alerts", []), theirs.get("alerts", [])
    check(f"{name}: as many alerts ({len(their_alerts)})", len(our_alerts) == len(their_alerts),
          f"ours {len(our_alerts)}")
    for i, (mine, its) in enumerate(zip(our_alerts, their_alerts)):
        labels = its.get("labels", {})
        label = f"{name}: alert {i} ({labels.get('instance') or labels.get('alertname')})"
        check(f"{label}: the same keys", sorted(mine) == sorted(its), f"ours {sorted(mine)}\ntheirs {sorted(its)}")
        for key in ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"):
            check(f"{label}: {key} is Alertmanager's ({json.dumps(its.get(key))})", mine.get(key) == its.get(key),
                  f"ours {json.dumps(mine.get(key))}")


def wait_for(seconds, find):
    found = []
    fixtures.wait_until(seconds, lambda: found.append(find()) or found[-1] is not None)
    return found[-1] if found else None


def run(connection, alertmanager, sink):
    api = f"{alertmanager.url}/api/v2/alerts"

    # The alerts as the outbox holds them, and the body Alertmanager takes.
    api_down = sql_value(connection, ALERTS_SQL, (json.dumps(API_DOWN),))
    slow = sql_value(connection, ALERTS_SQL, (json.dumps([SLOW]),))
    check("jsonb_build_object writes the times with the session's offset",
          api_down[0]["starts_at"].endswith("+05:30"), api_down[0]["starts_at"])
    body = sql_value(connection, "SELECT ops.alertmanager_payload(%s::jsonb || %s::jsonb)",
                     (json.dumps(api_down), json.dumps(slow)))
    status, answer = request("POST", api, body)
    check("Alertmanager takes ops.alertmanager_payload()'s body: 200", status == 200, f"{status} {answer}")

    # Alertmanager lists the firing alerts, not the resolved one, with our fingerprints.
    def fingerprints(alerts):
        payload = sql_value(connection, "SELECT ops.webhook_payload('r', 'k', '{}', %s::jsonb)", (json.dumps(alerts),))
        return {alert["fingerprint"]: alert for alert in payload["alerts"]}

    ours = fingerprints(api_down + slow)
    firing = {fingerprint for fingerprint, alert in ours.items() if alert["status"] == "firing"}
    status, listed = request("GET", api)
    listed_fingerprints = {alert["fingerprint"] for alert in listed} if status == 200 else set()
    check("GET /api/v2/alerts lists exactly the firing alerts, by our fingerprints",
          listed_fingerprints == firing, f"{status} listed {sorted(listed_fingerprints)}, ours {sorted(firing)}")
    check("Alertmanager drops a label with an empty value, as webhook_payload() does",
          all(alert["labels"] == ours[alert["fingerprint"]]["labels"]
              for alert in listed if alert["fingerprint"] in ours), json.dumps(listed))

    # What Alertmanager refuses, our builder refuses too.
    for name, labels in (("no labels", {}), ("only an empty label", {"alertname": ""}),
                         ("a bad label name", {"alertname": "X", "bad-name": "v"})):
        alert = {"labels": labels, "startsAt": "2026-12-01T10:00:00Z"}
        status, answer = request("POST", api, [alert])
        check(f"Alertmanager answers an alert with {name} with 400", status == 400, f"{status} {answer}")
        refused = sqlstate_of(connection, "SELECT ops.alertmanager_payload(jsonb_build_array(jsonb_build_object("
                              "'labels', %s::jsonb, 'starts_at', '2026-12-01T10:00:00Z')))", (json.dumps(labels),))
        check(f"ops.alertmanager_payload() refuses it with 22X68", refused == "22X68", refused)

    # The webhook Alertmanager sends for the ApiDown group, against ours for the same group: the
    # alerts Alertmanager keeps (max_alerts cuts the last by instance, api-3), in the caller's
    # order, which the builder puts in Alertmanager's.
    theirs = wait_for(20, lambda: sink.find("ExpenseOpsApiDown"))
    if not check("Alertmanager sends the ApiDown group to the webhook", theirs is not None,
                 alertmanager.output()[-2000:]):
        return
    kept = [alert for alert in api_down if alert["labels"]["instance"] != "api-3"]
    group_key = '{}:{alertname="ExpenseOpsApiDown"}'
    ours = sql_value(connection, "SELECT ops.webhook_payload(%s, %s, %s::jsonb, %s::jsonb, %s, %s)",
                     (RECEIVER, group_key, json.dumps({"alertname": "ExpenseOpsApiDown"}), json.dumps(kept),
                      alertmanager.url, len(api_down) - len(kept)))
    diag("Alertmanager sent: " + json.dumps(theirs, sort_keys=True))
    compare("ApiDown", ours, theirs)

    # The SlowQueries group fires, then resolves: the resolved notification, against ours.
    fired = wait_for(20, lambda: sink.find("ExpenseOpsSlowQueries", "firing"))
    check("Alertmanager sends the SlowQueries group firing", fired is not None)
    resolved = sql_value(connection, "SELECT jsonb_set(%s::jsonb, '{0}', (%s::jsonb -> 0) || jsonb_build_object("
                         "'status', 'resolved', 'ends_at', now() - interval '1.5 seconds'))", (json.dumps(slow),) * 2)
    status, answer = request("POST", api, sql_value(connection, "SELECT ops.alertmanager_payload(%s::jsonb)",
                                                     (json.dumps(resolved),)))
    check("Alertmanager takes the resolution: 200", status == 200, f"{status} {answer}")
    theirs = wait_for(20, lambda: sink.find("ExpenseOpsSlowQueries", "resolved"))
    if not check("Alertmanager sends the SlowQueries group resolved", theirs is not None,
                 alertmanager.output()[-2000:]):
        return
    ours = sql_value(connection, "SELECT ops.webhook_payload(%s, %s, %s::jsonb, %s::jsonb, %s)",
                     (RECEIVER, '{}:{alertname="ExpenseOpsSlowQueries"}',
                      json.dumps({"alertname": "ExpenseOpsSlowQueries"}), json.dumps(resolved), alertmanager.url))
    diag("Alertmanager sent: " + json.dumps(theirs, sort_keys=True))
    compare("SlowQueries resolved", ours, theirs)
    status, listed = request("GET", api)
    check("the resolved alert leaves GET /api/v2/alerts",
          status == 200 and all(a["labels"].get("alertname") != "ExpenseOpsSlowQueries" for a in listed), listed)


def main():
    if not (os.path.isfile(ALERTMANAGER) and os.access(ALERTMANAGER, os.X_OK)):
        check(f"{ALERTMANAGER} is installed (scripts/install-deps.sh installs prometheus-alertmanager)", False)
        return finish()
    version = subprocess.run([ALERTMANAGER, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True).stdout
    diag(version.splitlines()[0] if version else "prometheus-alertmanager --version printed nothing")

    directory = os.path.realpath(tempfile.mkdtemp(prefix="expense_ops_alertmanager.", dir="/tmp"))
    sink = alertmanager = None
    try:
        sink = Sink()
        alertmanager = Alertmanager(directory, sink.port)
        if not check("Alertmanager starts and is ready", fixtures.wait_until(30, alertmanager.ready),
                     alertmanager.output()[-2000:]):
            return finish()
        with fixtures.database("expense_ops_alertmanager") as db, fixtures.worker_role() as worker:
            # The worker delivers the notifications, so it builds the payloads here.
            connection = fixtures.connect(db, user=worker)
            try:
                sql_value(connection, "SELECT set_config('TimeZone', 'Asia/Kolkata', false)")
                run(connection, alertmanager, sink)
            finally:
                connection.close()
    finally:
        if alertmanager is not None:
            alertmanager.stop()
        if sink is not None:
            sink.close()
        shutil.rmtree(directory, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
