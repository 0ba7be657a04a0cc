#!/usr/bin/python3
"""make run's HTTP front and its SYNTHETIC traffic (issue 11, section 4): a real nginx with
scripts/demo-nginx.conf writes the documented JSON access-log lines, scripts/demo-traffic.py
writes lines in exactly that format with a realistic mix and a 5xx burst, and the worker ships
both into ops.request_log, every line once, across a rotation done as logrotate does it (a
rename, then USR1 to nginx's master).

nginx runs from this file as make run runs it: the demo configuration in a prefix of its own in
a temporary directory, on a free loopback port, and, when the test runs as root, wholly as the
unprivileged server user (master and workers; no user directive). It is stopped and the
directory removed whatever happens. nginx is a required dependency (scripts/install-deps.sh):
without it the file fails.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import collections
import datetime
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import fixtures
from fixtures import Worker, tail, value, wait_until
from tap import check, diag, finish

DATABASE = "expense_ops_demo_traffic"
NGINX = "/usr/sbin/nginx"
NGINX_CONF = os.path.join(fixtures.ROOT, "scripts", "demo-nginx.conf")
TRAFFIC = os.path.join(fixtures.ROOT, "scripts", "demo-traffic.py")
SERVER_USER = "postgres"  # as scripts/cluster.sh and scripts/run.sh run their servers under root
KEYS = ["time", "method", "uri", "status", "request_time"]  # the log_format's, in its order
# The log_format to the byte: no spaces, status and request_time as bare numbers.
LINE = re.compile(r'\{"time":"[^"]+","method":"[A-Z]+","uri":"/[^"?]*","status":[1-5][0-9]{2},'
                  r'"request_time":[0-9]+\.[0-9]{3}\}')
ROUTES = {"/expenses", "/rpc/submit_expense", "/rpc/approve_expense", "/rpc/login", "/rpc/health", "/health"}
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Nginx:
    """nginx with the demo configuration in its own prefix DIRECTORY, in the foreground (so the
    master is this process's child, to signal and to wait for)."""

    def __init__(self, directory):
        self.directory = directory
        self.port = fixtures.free_port(18380)
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = os.path.join(directory, "access.json")
        os.mkdir(directory)
        shutil.copy(NGINX_CONF, os.path.join(directory, "nginx.conf"))
        with open(os.path.join(directory, "listen.conf"), "w") as file:
            file.write(f"listen 127.0.0.1:{self.port};\n")
        as_user = {}
        if os.getuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(directory, account.pw_uid, account.pw_gid)
            as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        with open(os.path.join(directory, "stderr.log"), "w") as output:
            self.process = subprocess.Popen(
                [NGINX, "-p", directory + "/", "-c", "nginx.conf", "-e", "error.log", "-g", "daemon off;"],
                cwd=directory, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, **as_user)

    def request(self, route, method="GET", asked=None):
        """The status nginx answers ROUTE with, or None when nothing answers. ASKED is the status
        demo-traffic.py would ask for (X-Demo-Status)."""
        headers = {"X-Demo-Status": str(asked)} if asked else {}
        outgoing = urllib.request.Request(self.url + route, method=method, headers=headers,
                                          data=b"{}" if method == "POST" else None)
        try:
            with DIRECT.open(outgoing, timeout=5) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def ready(self):
        return self.process.poll() is None and self.request("/health") == 200

    def users(self):
        """The uids of the master and its workers (one session, which the master leads)."""
        listed = subprocess.run(["ps", "-o", "uid=", "-s", str(self.process.pid)],
                                stdout=subprocess.PIPE, text=True).stdout
        return {int(uid) for uid in listed.split()}

    def workers_write_to(self, path):
        """Whether every worker holds PATH open. USR1 makes the master create the new log at once
        but its workers reopen only on their next turn of the event loop, so a request between
        the two still goes to the renamed file."""
        try:
            wanted = os.stat(path)
        except FileNotFoundError:
            return False
        listed = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
                                stdout=subprocess.PIPE, text=True).stdout.split()
        if not listed:
            return False
        for pid in listed:
            try:
                held = {(st.st_dev, st.st_ino) for st in
                        (os.stat(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))}
            except OSError:
                return False
            if (wanted.st_dev, wanted.st_ino) not in held:
                return False
        return True

    def stop(self):
        fixtures.terminate(self.process)

    def output(self):
        return fixtures.read(os.path.join(self.directory, "error.log")) + \
            fixtures.read(os.path.join(self.directory, "stderr.log"))


def lines_of(*paths):
    return [line for path in paths for line in fixtures.read(path).splitlines()]


def parsed(line):
    """The entry of one access-log line, or None when it is not a JSON object."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def well_formed(entry):
    """The documented keys, in order, each of its type: the worker's parser needs no more."""
    if entry is None or list(entry) != KEYS:
        return False
    try:
        datetime.datetime.fromisoformat(entry["time"])
    except (TypeError, ValueError):
        return False
    uri, seconds = entry["uri"], entry["request_time"]
    return (isinstance(entry["method"], str) and isinstance(uri, str) and uri.startswith("/") and "?" not in uri
            and isinstance(entry["status"], int) and isinstance(seconds, (int, float)) and seconds >= 0)


def traffic(*arguments):
    return subprocess.run([sys.executable, TRAFFIC, *arguments], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)


def shipped(route_like="%"):
    return value(DATABASE, "SELECT count(*) FROM ops.request_log WHERE route LIKE %s", (route_like,))


def main(work):
    value(DATABASE, "SELECT count(*) FROM ops.maintain_partitions()")
    nginx = Nginx(os.path.join(work, "nginx"))
    try:
        return with_nginx(work, nginx)
    finally:
        nginx.stop()


def with_nginx(work, nginx):
    diag("the demo nginx, as make run runs it")
    if not check(f"nginx starts with scripts/demo-nginx.conf on 127.0.0.1:{nginx.port}",
                 wait_until(10, nginx.ready), tail(nginx.output(), 5)):
        return finish()
    users = nginx.users()
    if os.getuid() == 0:
        check(f"master and workers run as {SERVER_USER}, none as root ({sorted(users)})",
              users == {pwd.getpwnam(SERVER_USER).pw_uid})
    else:
        check(f"master and workers run as this user ({sorted(users)})", users == {os.getuid()})
    check("its temporary directories and pid file are under its prefix",
          all(os.path.exists(os.path.join(nginx.directory, name))
              for name in ("client_body_temp", "proxy_temp", "nginx.pid", "error.log")))
    readiness = len(lines_of(nginx.access_log))  # the probes of ready(), all of /health
    asked = [("/", "GET", None, 200), ("/health", "GET", None, 200), ("/rpc/health", "GET", None, 200),
             ("/rpc/submit_expense?draft=1", "POST", None, 200), ("/expenses", "GET", 503, 503),
             ("/rpc/login", "POST", 401, 401), ("/nowhere", "GET", None, 404)]
    answers = [nginx.request(route, method, status) for route, method, status, _ in asked]
    check("it answers the page, /health, the API's stand-ins, the statuses asked and 404",
          answers == [expected for *_, expected in asked], repr(answers))
    check("each request is one access-log line",
          wait_until(5, lambda: len(lines_of(nginx.access_log)) == readiness + len(asked)),
          tail(fixtures.read(nginx.access_log), 3))
    written = lines_of(nginx.access_log)
    check("every line is JSON with the documented keys, in order, of their types",
          all(well_formed(parsed(line)) and LINE.fullmatch(line) for line in written), tail("\n".join(written), 3))
    entries = [parsed(line) for line in written[readiness:]]
    check("uri is the path without the query string, status what was answered",
          [(e["uri"], e["status"]) for e in entries] == [(r.split("?")[0], s) for r, _, _, s in asked],
          repr([(e["uri"], e["status"]) for e in entries]))

    sent = traffic("--http", nginx.url, "--once", "60", "--rate", "20", "--burst-5xx", "1", "--seed", "3")
    logged = [parsed(line) for line in lines_of(nginx.access_log)[len(written):]]
    statuses = collections.Counter(e["status"] // 100 for e in logged if e)
    check(f"demo-traffic.py --http: nginx logs each request, the burst's 5xx among them ({dict(statuses)})",
          sent.returncode == 0 and len(logged) == 60 and all(map(well_formed, logged)) and statuses[5] > 0,
          tail(sent.stdout, 3))

    diag("SYNTHETIC lines into a file")
    helped = traffic("--help")
    with open(TRAFFIC) as script:
        header = script.read(200)
    check("the script says SYNTHETIC in its header and its --help",
          "SYNTHETIC" in header and "SYNTHETIC" in helped.stdout, helped.stdout[:200])
    synthetic = os.path.join(work, "synthetic.json")
    made = traffic("--output", synthetic, "--once", "200", "--rate", "20", "--burst-5xx", "3", "--seed", "11")
    text = lines_of(synthetic)
    entries = [parsed(line) for line in text]
    check(f"--once 200 appends 200 lines ({len(text)}): {made.stdout.strip()}",
          made.returncode == 0 and len(text) == 200, tail(made.stdout, 3))
    check("each in exactly the log_format nginx writes",
          all(map(well_formed, entries)) and all(LINE.fullmatch(line) for line in text),
          next((line for line in text if not LINE.fullmatch(line)), ""))
    routes = collections.Counter(e["uri"] for e in entries)
    check(f"several routes, /expenses the busiest ({dict(routes)})",
          set(routes) == ROUTES and routes.most_common(1)[0][0] == "/expenses")
    classes = collections.Counter(e["status"] // 100 for e in entries)
    check(f"mostly 2xx, some 4xx ({dict(classes)})", classes[2] > 150 and classes[4] > 0)
    burst = [i for i, e in enumerate(entries) if e["status"] >= 500]
    check(f"5xx in the burst, the first 3 s (lines 0 to 59) only ({len(burst)} of them)",
          burst and max(burst) < 60 and len(burst) >= 5, repr(burst))
    check("nginx's own /health stays up through the burst",
          all(e["status"] == 200 for e in entries if e["uri"] == "/health"))
    times = sorted(e["request_time"] for e in entries if e["uri"] != "/health")
    median, p95, slowest = times[len(times) // 2], times[int(len(times) * 0.95)], times[-1]
    check(f"latency spread: median {median} s, P95 {p95} s, slowest {slowest} s",
          0.005 < median < 0.1 and p95 > 2 * median and slowest > 1)
    stamps = [datetime.datetime.fromisoformat(e["time"]) for e in entries]
    now = datetime.datetime.now(datetime.timezone.utc)
    check("their times are in order, over the 10 s before now",
          stamps == sorted(stamps) and now - datetime.timedelta(seconds=15) < stamps[0]
          and stamps[-1] <= now + datetime.timedelta(seconds=1), f"{stamps[0]} .. {stamps[-1]}")

    diag("the worker ships both")
    with Worker(os.path.join(work, "worker.log"), "--ship-logs-interval", "0.2",
                "--ship-log", f"nginx:json:{nginx.access_log}", "--ship-log", f"synthetic:json:{synthetic}",
                worker_id="it-demo-traffic", dsn=fixtures.dsn(DATABASE, user="it_worker")) as worker:
        expected = len(lines_of(nginx.access_log)) + len(text)
        check(f"ops.request_log holds one row per line ({expected})",
              wait_until(15, lambda: shipped() == expected), f"{shipped()}\n{tail(worker.output(), 3)}")
        offsets = fixtures.query(ADMIN, "SELECT source, lines, rejected FROM ops.log_offsets ORDER BY source")
        check("ops.log_offsets counts each source's lines, none refused",
              offsets == [("nginx", len(lines_of(nginx.access_log)), 0), ("synthetic", 200, 0)], repr(offsets))
        rows = fixtures.query(ADMIN, "SELECT route, status, count(*) FROM ops.request_log GROUP BY 1, 2")
        in_files = collections.Counter((e["uri"], e["status"])
                                       for e in map(parsed, lines_of(nginx.access_log, synthetic)))
        check("each route with each status, as many times as in the files",
              collections.Counter({(route, status): n for route, status, n in rows}) == in_files,
              repr(sorted(rows))[:300])
        slowest_ms = value(DATABASE, "SELECT max(duration_ms) FROM ops.request_log")
        check(f"request_time becomes duration_ms ({slowest_ms} ms)",
              abs(slowest_ms - 1000 * max(e["request_time"] for e in entries)) < 0.01)

        diag("a rotation as logrotate does it: rename, USR1 to the master")
        before = len(lines_of(nginx.access_log))
        os.rename(nginx.access_log, nginx.access_log + ".1")
        late = [nginx.request(f"/rotation/before-reopen/{i}") for i in range(5)]
        nginx.process.send_signal(signal.SIGUSR1)
        check("nginx opens a new access log, in its worker too",
              wait_until(5, lambda: nginx.workers_write_to(nginx.access_log)), tail(nginx.output(), 3))
        fresh = [nginx.request(f"/rotation/after-reopen/{i}") for i in range(7)]
        rotated = lines_of(nginx.access_log + ".1")
        check("the old file got the lines before the reopen, the new one those after",
              late == [404] * 5 and fresh == [404] * 7 and len(rotated) == before + 5
              and len(lines_of(nginx.access_log)) == 7, f"{len(rotated)} and {len(lines_of(nginx.access_log))}")
        total = len(rotated) + 7 + len(text)
        check(f"the worker ships every line of both files ({total} rows in all)",
              wait_until(15, lambda: shipped() == total), f"{shipped()}\n{tail(worker.output(), 3)}")
        twice = value(DATABASE, "SELECT count(*) FROM (SELECT route FROM ops.request_log WHERE route LIKE '/rotation/%%'"
                                " GROUP BY route HAVING count(*) <> 1) t")
        check("each exactly once", shipped("/rotation/%") == 12 and twice == 0, f"{shipped('/rotation/%')}, {twice}")
        settled = not wait_until(1.5, lambda: shipped() != total)
        check("and nothing more arrives later", settled, str(shipped()))
        check("the worker logged no lost or refused line",
              worker.count("log_lines_lost") == 0 and worker.count("log_line_refused") == 0
              and worker.count("log_line_unparsable") == 0, tail(worker.output(), 5))
    return finish()


ADMIN = None

if __name__ == "__main__":
    with fixtures.workdir("expense_ops_demo_traffic.") as work, fixtures.worker_role(), fixtures.database(DATABASE):
        os.chmod(work, 0o755)  # nginx, as the server user, reaches its prefix inside
        ADMIN = fixtures.connect(DATABASE)
        try:
            sys.exit(main(work))
        finally:
            ADMIN.close()
