#!/usr/bin/python3
"""The worker delivers the outbox (issue 11, section 5) to real receivers on loopback: a webhook
sink in this file that answers 200, 500, 429 with Retry-After, 400, or nothing, on command; an
SMTP sink (aiosmtpd, a Debian package); a command; and its own log. Retries, the give-ups, the
Retry-After, secrets kept out of the log, and the faults: kill -9 mid-dispatch, PostgreSQL
restarted under the worker, SIGTERM with deliveries in flight, two workers sharing the outbox,
and the sink down for two minutes. After each, every notification is delivered, and no
Idempotency-Key arrives twice except after a crash.

It restarts the test cluster (CLUSTER_BASE), so no other file may run meanwhile.
Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import email
import email.policy
import http.server
import json
import os
import signal
import stat
import sys
import threading
import time

from aiosmtpd.controller import Controller

import fixtures
from fixtures import Worker, tail, value, wait_until
from tap import check, diag, finish

DATABASE = "expense_ops_delivery"
SECRET_TOKEN = "tok-7f3a9c1e5b"  # in the webhook URL: a secret that must reach no log


class Sink:
    """A webhook receiver that records every request and answers as told: "ok", "500", "400",
    "echo404" (the path in the body), "429:SECONDS" or "hang" (no answer until the test ends or
    the mode changes)."""

    def __init__(self):
        self.requests = []
        self.mode = "ok"
        self.delay = 0.0
        self.lock = threading.Lock()
        self.released = threading.Event()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    sink.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "at": time.monotonic(), "mode": sink.mode})
                    mode, delay = sink.mode, sink.delay
                if mode == "hang":
                    sink.released.wait(120)
                    self.close_connection = True
                    return
                if delay:
                    time.sleep(delay)
                if mode == "ok":
                    self._answer(200, b"{}")
                elif mode == "latin1":  # an error page that is not UTF-8
                    self._answer(500, "café au lait".encode("latin-1"))
                elif mode == "echo404":  # as Express and Spring Boot answer: the path, token and all
                    self._answer(404, f"Cannot POST {self.path}".encode())
                elif mode.startswith("429:"):
                    self._answer(429, b"slow down", {"Retry-After": mode[4:]})
                else:
                    self._answer(int(mode), b"the sink says " + mode.encode())

            def _answer(self, status, body, headers=None):
                self.send_response(status)
                for name, header in (headers or {}).items():
                    self.send_header(name, header)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *arguments):
                pass

        self.server = fixtures.QuietServer(("127.0.0.1", fixtures.free_port(18600)), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, mode, delay=0.0):
        with self.lock:
            self.mode, self.delay = mode, delay
        if mode != "hang":
            self.released.set()
        else:
            self.released.clear()

    def keys(self, path=None):
        with self.lock:
            return [r["headers"].get("Idempotency-Key") for r in self.requests if path is None or r["path"] == path]

    def close(self):
        self.released.set()
        self.server.shutdown()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def sql(statement, params=()):
    connection = fixtures.connect(DATABASE)
    try:
        return fixtures.query(connection, statement, params)
    finally:
        connection.close()


def enqueue(channel, count=1, prefix="n"):
    """COUNT notifications for CHANNEL in the outbox, each its own group, as
    ops.queue_notifications writes them; then the NOTIFY it sends. Returns their keys."""
    keys = [f"{prefix}-{i}-{time.monotonic_ns()}" for i in range(count)]
    sql("""INSERT INTO ops.notifications (channel, kind, target, group_key, idempotency_key, payload, firing,
                                         resolved, next_attempt_at, created_at)
           SELECT c.channel, c.kind, c.target, '{}/{channel="' || c.channel || '"}:{n="' || k || '"}', k,
                  ops.webhook_payload(c.channel, '{}/{channel="' || c.channel || '"}:{n="' || k || '"}',
                                      jsonb_build_object('n', k),
                                      jsonb_build_array(jsonb_build_object(
                                        'labels', jsonb_build_object('alertname', 'DeliveryTest', 'n', k, 'severity', 'high'),
                                        'annotations', jsonb_build_object('summary', 'delivery test ' || k),
                                        'starts_at', now() - interval '1 minute', 'status', 'firing',
                                        'generator_url', '')),
                                      'http://127.0.0.1', 0),
                  1, 0, now(), now()
             FROM ops.notification_channels c, unnest(%s::text[]) k WHERE c.channel = %s;
           NOTIFY expense_ops_notifications""", (keys, channel))
    return keys


def statuses(keys):
    rows = sql("SELECT status, count(*) FROM ops.notifications WHERE idempotency_key = ANY (%s) GROUP BY status",
               (keys,))
    return dict(rows or [])


def row(key):
    rows = sql("SELECT status, attempts, last_error, extract(epoch FROM next_attempt_at - now())::float8"
               "  FROM ops.notifications WHERE idempotency_key = %s", (key,))
    return rows[0] if rows else None


def gone(pid):
    """Whether process PID has ended (a zombie nobody reaped has ended too)."""
    try:
        with open(f"/proc/{pid}/stat") as status:
            return status.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def all_delivered(keys):
    return statuses(keys) == {"delivered": len(keys)}


def write_config(work, sink, mailbox_port, extra=""):
    path = os.path.join(work, "worker.conf")
    with open(path, "w") as config:
        config.write(f"secret = hook_url:{sink.url}/hooks/{SECRET_TOKEN}\n"
                     f"command = record: {sys.executable} {os.path.join(work, 'record.py')} {work}\n"
                     f"command = refuse: {sys.executable} -c \"import sys; sys.stdin.read(); sys.exit(65)\"\n"
                     f"command = slow: /bin/sh -c 'sleep 31 & echo $! >> {work}/slow-children; sleep 30'\n"
                     f"smtp-url = smtp://127.0.0.1:{mailbox_port}\n"
                     f"smtp-from = alerts@example.com\n" + extra)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    with open(os.path.join(work, "record.py"), "w") as script:
        script.write("import os, sys\n"
                     "payload = sys.stdin.read()\n"
                     "key = os.environ['EXPENSE_OPS_IDEMPOTENCY_KEY']\n"
                     "with open(os.path.join(sys.argv[1], 'command-' + key), 'w') as out:\n"
                     "    out.write(payload)\n"
                     "print('recorded', key)\n")
    return path


def worker(work, config, name="delivery.log", worker_id="delivery-1", *arguments):
    return Worker(os.path.join(work, name), "--config", config, "--delivery-timeout", "2",
                  "--evaluate-alerts-interval", "3600", "--log-level", "debug", *arguments,
                  worker_id=worker_id, dsn=fixtures.dsn(DATABASE, user="it_worker"))


def channels(sink):
    sql(f"""UPDATE ops.alerting_settings SET retry_base = '1 second', retry_cap = '2 seconds', max_attempts = 8;
            UPDATE ops.notification_channels SET enabled = false;
            INSERT INTO ops.notification_channels (channel, kind, target, enabled) VALUES
              ('hook', 'webhook', '{sink.url}/hook', false),
              ('secret-hook', 'webhook', 'secret:hook_url', false),
              ('unknown-secret', 'webhook', 'secret:nobody_has_this', false),
              ('am', 'alertmanager', '{sink.url}', false),
              ('mail', 'email', 'oncall@example.com, ops@example.com', false),
              ('record', 'command', 'record', false),
              ('refuse', 'command', 'refuse', false),
              ('slow', 'command', 'slow', false)""")


def channel_kinds(work, sink, mailbox, config):
    diag("each channel kind against a real receiver")
    with worker(work, config) as running:
        started = time.monotonic()
        hook = enqueue("hook")
        check("a webhook is delivered", wait_until(10, lambda: all_delivered(hook)), tail(running.output(), 5))
        diag(f"  from the commit to delivered in the database: {time.monotonic() - started:.2f} s")
        request = [r for r in sink.requests if r["headers"].get("Idempotency-Key") == hook[0]]
        check("as one POST to the channel's URL", len(request) == 1 and request[0]["path"] == "/hook", repr(request))
        headers = request[0]["headers"] if request else {}
        check("with Content-Type application/json and the row's Idempotency-Key",
              headers.get("Content-Type") == "application/json" and headers.get("Idempotency-Key") == hook[0],
              repr(headers))
        body = json.loads(request[0]["body"]) if request else {}
        check("carrying the webhook payload, version 4, as the outbox holds it",
              body.get("version") == "4" and body.get("receiver") == "hook"
              and body == value(DATABASE, "SELECT payload FROM ops.notifications WHERE idempotency_key = %s", (hook[0],)))

        secret = enqueue("secret-hook")
        check("a secret:NAME target goes to the URL the configuration holds",
              wait_until(10, lambda: all_delivered(secret)) and sink.keys(f"/hooks/{SECRET_TOKEN}") == secret)
        sink.set("echo404")
        echoed = enqueue("secret-hook")
        check("a receiver that echoes the secret URL's path in its error: the error names the secret instead",
              wait_until(10, lambda: row(echoed[0])[0] == "dead")
              and row(echoed[0])[2] == "HTTP 404: Cannot POST secret:hook_url", repr(row(echoed[0])))
        sink.set("ok")
        unknown = enqueue("unknown-secret")
        check("a secret the configuration lacks fails, retryable, and says which",
              wait_until(10, lambda: row(unknown[0])[0] == "failed")
              and "secret:nobody_has_this" in row(unknown[0])[2], repr(row(unknown[0])))

        am = enqueue("am")
        check("an alertmanager channel POSTs to the target's /api/v2/alerts",
              wait_until(10, lambda: all_delivered(am)) and sink.keys("/api/v2/alerts") == am)

        mail = enqueue("mail")
        check("an email is delivered through SMTP", wait_until(10, lambda: all_delivered(mail)),
              tail(running.output(), 5))
        sent = [m for m in mailbox.messages if f"<{mail[0]}@expense-ops>".encode() in m[2]]
        check("one message, to every address of the target, from smtp-from",
              len(sent) == 1 and sent[0][0] == "alerts@example.com"
              and sorted(sent[0][1]) == ["oncall@example.com", "ops@example.com"], repr(sent))
        message = email.message_from_bytes(sent[0][2], policy=email.policy.default) if sent else {}
        check("with the alert's subject and a plain-text body",
              sent and message["Subject"] == f"[FIRING:1] {mail[0]} (DeliveryTest high)"
              and message.get_content_type() == "text/plain"
              and f"Summary: delivery test {mail[0]}" in message.get_content(), sent and message.as_string())

        record = enqueue("record")
        check("a command gets the payload on stdin", wait_until(10, lambda: all_delivered(record)),
              tail(running.output(), 5))
        recorded = fixtures.read(os.path.join(work, "command-" + record[0]))
        check("exactly the payload, with the key in its environment",
              recorded and json.loads(recorded) == value(
                  DATABASE, "SELECT payload FROM ops.notifications WHERE idempotency_key = %s", (record[0],)))
        refused = enqueue("refuse")
        check("a command that exits 65 (EX_DATAERR) is dead at once",
              wait_until(10, lambda: row(refused[0])[:2] == ("dead", 1)), repr(row(refused[0])))
        slow = enqueue("slow")
        check("a command that outlives the delivery timeout is killed and retried",
              wait_until(10, lambda: row(slow[0])[0] == "failed" and "ran out of time" in row(slow[0])[2]),
              repr(row(slow[0])))
        child = int(fixtures.read(os.path.join(work, "slow-children")).split()[0])
        check("and its whole process group with it: the command's own child is gone too",
              wait_until(5, lambda: gone(child)), f"pid {child}")
        # No more attempts of these two.
        wait_until(10, lambda: sql("UPDATE ops.notifications SET status = 'dead' WHERE idempotency_key = ANY (%s) "
                                   "AND status = 'failed' RETURNING 1", (slow,)))
        sql("UPDATE ops.notifications SET status = 'dead' WHERE idempotency_key = ANY (%s)", (unknown,))
        log = enqueue("log")
        check("a log channel's notification is one JSON line of the worker's log",
              wait_until(10, lambda: all_delivered(log)))
        lines = [json.loads(line) for line in running.output().splitlines()
                 if '"event":"notification"' in line and log[0] in line]
        check("holding the payload as a JSON object",
              len(lines) == 1 and lines[0]["payload"]["receiver"] == "log" and lines[0]["idempotency_key"] == log[0],
              repr(lines))
        running.stop()
        output = running.output()
    check("the secret URL's token reaches no log line", SECRET_TOKEN not in output)


def retries(work, sink, config):
    diag("retries: 5xx and timeouts retry with backoff, 429 waits for its Retry-After, other 4xx are dead")
    with worker(work, config, "retries.log") as running:
        sink.set("500")
        failing = enqueue("hook")
        check("a 500 fails the attempt, to be retried",
              wait_until(10, lambda: row(failing[0])[:2] == ("failed", 1)), repr(row(failing[0])))
        check("with the status and the receiver's words", row(failing[0])[2] == "HTTP 500: the sink says 500",
              repr(row(failing[0])))
        check("it is retried after a backoff", wait_until(10, lambda: row(failing[0])[1] >= 2), repr(row(failing[0])))
        sink.set("ok")
        check("and delivered once the receiver answers", wait_until(10, lambda: all_delivered(failing)))

        sink.set("429:4")
        limited = enqueue("hook")
        check("a 429 fails the attempt", wait_until(10, lambda: row(limited[0])[0] == "failed"), repr(row(limited[0])))
        first = [r["at"] for r in sink.requests if r["headers"].get("Idempotency-Key") == limited[0]][0]
        sink.set("ok")
        wait_until(15, lambda: all_delivered(limited))
        times = [r["at"] for r in sink.requests if r["headers"].get("Idempotency-Key") == limited[0]]
        check("and is not tried again before its Retry-After of 4 s (the backoff alone is 1 s)",
              len(times) == 2 and times[1] - first >= 3.9, repr([t - first for t in times]))

        sink.set("400")
        refused = enqueue("hook")
        check("a 400 is dead at the first attempt, not retried",
              wait_until(10, lambda: row(refused[0])[:2] == ("dead", 1)), repr(row(refused[0])))
        time.sleep(2)
        check("the receiver heard it once", sink.keys().count(refused[0]) == 1)

        sink.set("hang")
        hanging = enqueue("hook")
        check("a receiver that does not answer within the delivery timeout fails the attempt",
              wait_until(10, lambda: row(hanging[0])[0] == "failed" and "timed out" in (row(hanging[0])[2] or "")),
              repr(row(hanging[0])))
        sink.set("ok")
        check("and it is retried and delivered", wait_until(15, lambda: all_delivered(hanging)))


def kill_mid_dispatch(work, sink, config):
    diag("kill -9 of the worker while deliveries are in flight")
    sink.set("hang")
    keys = enqueue("hook", 5, "kill")
    with worker(work, config, "kill.log") as running:
        check("the deliveries are in flight", wait_until(10, lambda: len(set(sink.keys()) & set(keys)) == 5))
        running.signal(signal.SIGKILL)
        running.wait()
    sink.set("ok")
    with worker(work, config, "kill-2.log", "delivery-2") as running:
        check("another worker delivers them once their leases run out (3 x timeout + 2 s)",
              wait_until(20, lambda: all_delivered(keys)), tail(running.output(), 5))
    received = sink.keys()
    check("each was received again with the same Idempotency-Key, and none more than twice",
          all(received.count(key) == 2 for key in keys), repr([received.count(key) for key in keys]))


def restart_under_worker(work, sink, config):
    diag("PostgreSQL restarted under the worker")
    with fixtures.primary_restored() as base, worker(work, config, "restart.log") as running:
        sink.set("ok", delay=1.5)  # within the delivery timeout of 2 s
        keys = enqueue("hook", 3, "restart")
        check("deliveries in flight", wait_until(10, lambda: len(set(sink.keys()) & set(keys)) == 3))
        check("the cluster restarts", fixtures.cluster_restart(base))
        check("the outcomes are written once the worker is back", wait_until(30, lambda: all_delivered(keys)),
              tail(running.output(), 5))
        sink.set("ok")
        more = enqueue("hook", 3, "after-restart")
        check("and new notifications flow again (LISTEN renewed)", wait_until(10, lambda: all_delivered(more)))
        received = sink.keys()
        check("each exactly once", all(received.count(key) == 1 for key in keys + more),
              repr([received.count(key) for key in keys + more]))


def drain_on_sigterm(work, sink, config):
    diag("SIGTERM drains the deliveries in flight and gives back the rest")
    sink.set("ok", delay=1.5)
    with worker(work, config, "drain.log", "delivery-1", "--delivery-concurrency", "4",
                "--drain-timeout", "5") as running:
        keys = enqueue("hook", 10, "drain")
        check("four in flight", wait_until(10, lambda: len(set(sink.keys()) & set(keys)) >= 4))
        running.signal(signal.SIGTERM)
        status = running.wait()
        check("the worker exits 0", status == 0, f"exit code {status}")
        output = running.output()
    counts = statuses(keys)
    check("what was in flight was delivered, the rest given back uncounted, nothing left leased",
          counts.get("delivered", 0) >= 4 and "sending" not in counts
          and sql("SELECT count(*) FROM ops.notifications WHERE idempotency_key = ANY (%s) "
                  "AND status = 'pending' AND attempts = 0", (keys,))[0][0] == len(keys) - counts.get("delivered", 0),
          f"{counts} {tail(output, 4)}")
    sink.set("hang")
    with worker(work, config, "drain-2.log", "delivery-1", "--drain-timeout", "1") as running:
        stuck = [k for k in keys if row(k)[0] != "delivered"][:1] or enqueue("hook", 1, "stuck")
        check("a delivery that hangs", wait_until(10, lambda: stuck[0] in sink.keys()))
        started = time.monotonic()
        running.signal(signal.SIGTERM)
        status = running.wait()
        check("is cut at the drain timeout, and the worker still exits 0",
              status == 0 and time.monotonic() - started < 4, f"exit {status} after {time.monotonic() - started:.1f} s")
        check("and given back, not counted", row(stuck[0])[0] in ("pending", "failed") and
              '"event":"notifications_given_back"' in running.output(), f"{row(stuck[0])} {tail(running.output(), 4)}")
    sink.set("ok")
    with worker(work, config, "drain-3.log") as running:
        check("the next worker delivers them all", wait_until(15, lambda: all_delivered(keys)))


def two_workers(work, sink, config):
    diag("two workers share the outbox")
    sink.set("ok", delay=0.01)
    keys = enqueue("hook", 300, "shared")
    with worker(work, config, "a.log", "delivery-a") as first, worker(work, config, "b.log", "delivery-b") as second:
        check("300 notifications are delivered", wait_until(30, lambda: all_delivered(keys)))
        first.stop()
        second.stop()
    received = sink.keys()
    check("each received exactly once", all(received.count(key) == 1 for key in keys))
    a = fixtures.read(os.path.join(work, "a.log")).count('"event":"notification_delivered"')
    b = fixtures.read(os.path.join(work, "b.log")).count('"event":"notification_delivered"')
    check(f"and both workers delivered some ({a} and {b})", a > 0 and b > 0 and a + b >= 300)


def reports_the_database_refuses(work, sink, config):
    diag("a report the database refuses costs only itself; the job goes on")
    with worker(work, config, "refused.log") as running:
        sink.set("latin1")
        latin = enqueue("hook")
        check("an answer that is not UTF-8 is kept as the error, its bad bytes replaced",
              wait_until(10, lambda: row(latin[0])[:3] == ("failed", 1, "HTTP 500: caf? au lait")),
              repr(row(latin[0])))
        sink.set("hang")
        sql("INSERT INTO ops.notification_channels (channel, kind, target, enabled) VALUES ('doomed', 'webhook', %s, false)",
            (sink.url + "/doomed",))
        doomed = enqueue("doomed")
        check("a delivery in flight", wait_until(10, lambda: doomed[0] in sink.keys()))
        sql("DELETE FROM ops.notification_channels WHERE channel = 'doomed'")  # its notifications go too
        sink.set("ok")  # the hung request is dropped: the attempt fails, and its report finds no row
        check("the report of a notification whose channel was deleted is dropped, and said so",
              wait_until(10, lambda: '"event":"notification_taken_over"' in running.output()), tail(running.output(), 4))
        after = enqueue("hook", 3, "after-refusal")
        check("and the job goes on delivering", wait_until(10, lambda: all_delivered(after + latin)),
              f"{statuses(after + latin)} {tail(running.output(), 4)}")


def reload_on_sighup(work, sink, config):
    diag("SIGHUP reads the configuration again")
    with open(config) as file:
        original = file.read()
    try:
        with worker(work, config, "reload.log") as running:
            missing = enqueue("unknown-secret")
            check("a secret the configuration lacks fails the attempt",
                  wait_until(10, lambda: row(missing[0])[0] == "failed"), repr(row(missing[0])))
            with open(config, "a") as file:
                file.write(f"secret = nobody_has_this:{sink.url}/reloaded/{SECRET_TOKEN}\n")
            running.signal(signal.SIGHUP)
            check("after SIGHUP the next attempt uses the secret the file now holds",
                  wait_until(15, lambda: all_delivered(missing))
                  and sink.keys(f"/reloaded/{SECRET_TOKEN}") == missing, tail(running.output(), 4))
            check("and the reload is logged", '"event":"reloaded"' in running.output())
            with open(config, "a") as file:
                file.write("delivery-concurrency = many\n")
            running.signal(signal.SIGHUP)
            check("a file that does not parse is refused, naming the option",
                  wait_until(5, lambda: '"event":"reload_failed"' in running.output())
                  and "delivery-concurrency" in running.output(), tail(running.output(), 3))
            later = enqueue("hook")
            check("and the worker goes on with the configuration in force",
                  running.running() and wait_until(10, lambda: all_delivered(later)))
            running.stop()
            check("no secret in what it logged", SECRET_TOKEN not in running.output())
    finally:
        with open(config, "w") as file:
            file.write(original)


def sink_down_two_minutes(work, sink, config):
    diag("the receiver is down for two minutes, then back")
    sql("UPDATE ops.alerting_settings SET retry_base = '5 seconds', retry_cap = '30 seconds', max_attempts = 10")
    port = int(sink.url.rsplit(":", 1)[1])
    sink.server.shutdown()
    sink.server.server_close()
    with worker(work, config, "down.log") as running:
        keys = enqueue("hook", 5, "down")
        check("while the receiver is down the attempts fail and wait",
              wait_until(15, lambda: statuses(keys).get("failed") == 5), repr(statuses(keys)))
        time.sleep(120)
        check("nothing is given up in two minutes", statuses(keys).get("dead") is None, repr(statuses(keys)))
        sink.server = fixtures.QuietServer(("127.0.0.1", port), sink.server.RequestHandlerClass)
        threading.Thread(target=sink.server.serve_forever, daemon=True).start()
        check("once it is back, every one is delivered", wait_until(45, lambda: all_delivered(keys)),
              f"{statuses(keys)} {tail(running.output(), 3)}")
    received = sink.keys()
    check("each once", all(received.count(key) == 1 for key in keys))
    sql("UPDATE ops.alerting_settings SET retry_base = '1 second', retry_cap = '2 seconds', max_attempts = 8")


PARTS = [channel_kinds, retries, kill_mid_dispatch, restart_under_worker, drain_on_sigterm, two_workers,
         reports_the_database_refuses, reload_on_sighup, sink_down_two_minutes]


def main():
    sink = Sink()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=fixtures.free_port(18700))
    smtp.start()
    try:
        with fixtures.worker_role(), fixtures.database(DATABASE), fixtures.workdir("delivery-") as work:
            os.chmod(work, 0o755)
            config = write_config(work, sink, smtp.port)
            channels(sink)
            # A name on the command line runs that part alone, while working on it; prove runs all.
            chosen = sys.argv[1:] or [part.__name__ for part in PARTS]
            for part in PARTS:
                if part.__name__ in chosen:
                    part(work, sink, config) if part is not channel_kinds else part(work, sink, mailbox, config)
            sql("UPDATE ops.notifications SET status = 'dead' WHERE status <> 'delivered'")
    finally:
        smtp.stop()
        sink.close()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
