"""What the integration test files share: the cluster they run against, throwaway databases
and roles, the worker, polling, and the tenants and users the API suites seed.

The cluster comes from the environment, as scripts/test.sh sets it: PGHOST, PGPORT and PGUSER
(a superuser) for libpq, CLUSTER_BASE for the files that stop and restart the cluster, and
WORKER for the worker binary (default build/expense-ops-worker). Each test file creates the
databases and roles it needs and drops them again, so prove can run any file alone. They must
not run in parallel: worker_test.py and replica_test.py stop the cluster under everyone else.
"""

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg2

from postgrest import PostgREST

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLUSTER_SH = os.path.join(ROOT, "scripts", "cluster.sh")
DEMO_DATA = os.path.join(ROOT, "scripts", "demo-data.sql")
DEMO_MONITORING = os.path.join(ROOT, "scripts", "demo-monitoring.sql")
WORKER = os.environ.get("WORKER") or os.path.join(ROOT, "build", "expense-ops-worker")


def environment(name):
    """A variable the layer cannot run without; a missing one ends the file before its plan,
    which prove reports as a failure."""
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set: run the integration layer through scripts/test.sh, "
                         "or see the README's Tests section")
    return value


PGHOST = environment("PGHOST")
PGPORT = environment("PGPORT")
PGUSER = environment("PGUSER")


def dsn(database, user=None, host=None, port=None):
    return f"host={host or PGHOST} port={port or PGPORT} dbname={database} user={user or PGUSER}"


def connect(database, autocommit=True, **where):
    connection = psycopg2.connect(dsn(database, **where))
    connection.autocommit = autocommit
    return connection


def query(admin, sql, params=()):
    """Runs SQL in the superuser connection: its rows, or None for a statement that returns none."""
    with admin.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def value(database, sql, params=(), **where):
    """The first column of the first row of SQL, in a connection of its own (the cluster may
    have restarted since the last one); None when there is no row."""
    connection = connect(database, **where)
    try:
        rows = query(connection, sql, params)
        return rows[0][0] if rows else None
    finally:
        connection.close()


def psql(database, *arguments, input=None):
    """psql -X -q -v ON_ERROR_STOP=1 on DATABASE with ARGUMENTS; stdout and stderr together,
    as the update notices and psql's errors are the test's evidence."""
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, *arguments],
                          input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def tail(text, lines):
    return "\n".join(text.splitlines()[-lines:])


def wait_until(seconds, condition):
    """Polls CONDITION every 0.2 s until it is true or SECONDS pass, then tries once more. An
    exception (the database restarting, a log not written yet) counts as false."""
    deadline = time.monotonic() + seconds

    def holds():
        try:
            return bool(condition())
        except Exception:
            return False

    while time.monotonic() < deadline:
        if holds():
            return True
        time.sleep(0.2)
    return holds()


def read(path):
    try:
        with open(path, errors="replace") as file:
            return file.read()
    except FileNotFoundError:
        return ""


# --- the cluster ---------------------------------------------------------------------------

def cluster_sh(script, *arguments, input=None):
    """Runs SCRIPT in bash with scripts/cluster.sh sourced (its arguments as $1, $2, ...), so
    that the cluster is handled exactly as make test and make run handle it."""
    return subprocess.run(["bash", "-c", f'source "$0" && {script}', CLUSTER_SH, *arguments],
                          input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def cluster_stop(base):
    cluster_sh('cluster_stop "$1"', base)


def cluster_start(base):
    return cluster_sh('cluster_start "$1"', base).returncode == 0


def cluster_restart(base):
    return cluster_sh('cluster_restart "$1"', base).returncode == 0


def cluster_running(host=None, port=None):
    try:
        value("postgres", "SELECT 1", host=host, port=port)
        return True
    except psycopg2.Error:
        return False


@contextlib.contextmanager
def primary_restored():
    """For a file that stops the cluster: whatever happens, the cluster runs again afterwards,
    for the files after it."""
    try:
        yield environment("CLUSTER_BASE")
    finally:
        if not cluster_running():
            cluster_start(environment("CLUSTER_BASE"))


def free_port(port):
    """A TCP port on 127.0.0.1 that nothing listens on, searching from PORT."""
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
        port += 1


# --- databases and roles -------------------------------------------------------------------

def _admin(sql):
    connection = connect("postgres")
    try:
        query(connection, sql)
    finally:
        connection.close()


@contextlib.contextmanager
def database(name, extension=True):
    """A fresh database NAME (with the extension unless told otherwise), dropped afterwards
    even if a session of the test still holds it."""
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin(f"CREATE DATABASE {name}")
    try:
        if extension:
            connection = connect(name)
            try:
                query(connection, "CREATE EXTENSION expense_ops")
            finally:
                connection.close()
        yield name
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def role(name, options):
    """A LOGIN role NAME with OPTIONS for the time of the block."""
    _admin(f"DROP ROLE IF EXISTS {name}")
    _admin(f"CREATE ROLE {name} LOGIN {options}")
    try:
        yield name
    finally:
        _admin(f"DROP ROLE IF EXISTS {name}")


def authenticator_role():
    """PostgREST's authenticator: not a superuser, switching to the API roles per request."""
    return role("it_authenticator", "NOINHERIT IN ROLE expense_anon, expense_user")


def worker_role():
    """The worker's LOGIN role holds nothing but expense_ops_worker's privileges."""
    return role("it_worker", "IN ROLE expense_ops_worker")


def api_suite(name, main):
    """Runs main(ADMIN_DSN, AUTHENTICATOR_DSN) in a fresh database expense_ops_NAME; returns its
    exit code."""
    with authenticator_role() as authenticator, database(f"expense_ops_{name}") as db:
        return main(dsn(db), dsn(db, user=authenticator))


# --- the worker ----------------------------------------------------------------------------

def worker_environment(extra=None):
    """The environment the worker starts with: the test's own, without any EXPENSE_OPS_*
    setting that would change what the test means, plus EXTRA."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXPENSE_OPS_")}
    env.update(extra or {})
    return env


class Worker:
    """expense-ops-worker running in the background, its output in LOG. The DSN travels in the
    environment, as docs/worker.md says it should: a --dsn flag would show in ps."""

    def __init__(self, log, *arguments, dsn=None, worker_id=None):
        self.log = log
        command = [WORKER] + (["--worker-id", worker_id] if worker_id else []) + list(arguments)
        # /metrics and /healthz on a port of the system's choosing: workers of one test, and a
        # make run nearby, would otherwise all want 9470.
        if "--listen-address" not in arguments:
            command += ["--listen-address", "127.0.0.1:0"]
        with open(log, "w") as output:
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT,
                env=worker_environment({"EXPENSE_OPS_DSN": dsn} if dsn else None))

    def running(self):
        return self.process.poll() is None

    def signal(self, number):
        self.process.send_signal(number)

    def wait(self):
        """Its exit code, once it has exited (killed after 30 s, so a hang fails the test)."""
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def stop(self):
        if self.running():
            self.process.terminate()
            self.wait()

    def output(self):
        return read(self.log)

    def count(self, event):
        return self.output().count(f'"event":"{event}"')

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.stop()


def run_worker(*arguments, env=None):
    """Runs the worker to its end: its exit code and output (stdout and stderr)."""
    result = subprocess.run([WORKER, *arguments], env=worker_environment(env), timeout=30,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return result.returncode, result.stdout


SERVER_USER = "postgres"  # as scripts/cluster.sh runs the cluster under root


def as_server_user(*paths):
    """subprocess.Popen's arguments that run a daemon (Alertmanager, Prometheus) as the
    unprivileged server user when the test runs as root, after giving it PATHS; none otherwise."""
    if os.getuid() != 0:
        return {}
    import pwd
    account = pwd.getpwnam(SERVER_USER)
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


class QuietServer(http.server.ThreadingHTTPServer):
    """A local HTTP server of a test (a webhook sink, a service to check). A client that gives up
    on an answer closes the connection, which is no error worth a traceback."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


def terminate(process, seconds=10):
    """SIGTERM to a daemon the test started, then SIGKILL if it has not gone within SECONDS."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def workdir(prefix):
    path = os.path.realpath(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- tenants and users of the API suites ----------------------------------------------------

ACME = "00000000-0000-0000-0000-0000000000a1"
GLOBEX = "00000000-0000-0000-0000-0000000000b2"
TRAVEL = "00000000-0000-0000-0000-0000000000c1"
USERS = {  # name: (user id, org, role, manager)
    "ana": ("00000000-0000-0000-0000-000000000001", ACME, "employee", "mia"),
    "ben": ("00000000-0000-0000-0000-000000000002", ACME, "employee", None),
    "mia": ("00000000-0000-0000-0000-000000000003", ACME, "manager", None),
    "fay": ("00000000-0000-0000-0000-000000000004", ACME, "finance", None),
    "sam": ("00000000-0000-0000-0000-000000000005", ACME, "support", None),
    "ada": ("00000000-0000-0000-0000-000000000006", ACME, "admin", None),
    "gus": ("00000000-0000-0000-0000-000000000007", GLOBEX, "admin", None),
}
PASSWORD = "correct horse battery"


def setup(admin):
    """Acme (EUR) with its Travel category and six users, one per application role and a
    second employee; Globex (USD) with its admin."""
    with admin.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)
            VALUES ('{ACME}', 'Acme', 'EUR', 'Europe/Berlin'), ('{GLOBEX}', 'Globex', 'USD', 'UTC');
            INSERT INTO expense.categories (category_id, org_id, name) VALUES ('{TRAVEL}', '{ACME}', 'Travel');
        """)
        for name, (uid, org, app_role, _) in USERS.items():
            cursor.execute(
                "INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash)"
                " VALUES (%s, %s, %s, %s, %s, iam.hash_password(%s))",
                (uid, org, f"{name}@test", name.title(), app_role, PASSWORD))
        for name, (uid, _, _, manager) in USERS.items():
            if manager:
                cursor.execute("UPDATE iam.users SET manager_id = %s WHERE user_id = %s",
                               (USERS[manager][0], uid))


def start(admin_dsn, authenticator_dsn):
    """Seeds the organisations and users, and logs everyone in through the client.
    Returns the superuser connection, the client and each user's token."""
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    setup(admin)
    with admin.cursor() as cursor:
        cursor.execute("SELECT iam.postgrest_jwks()")
        jwks = cursor.fetchone()[0]
    api = PostgREST(authenticator_dsn, jwks)
    tokens = {name: api.rpc("login", email=f"{name}@test", password=PASSWORD).body["token"] for name in USERS}
    return admin, api, tokens


# Two tenant organisations plus the operator's staff, on top of start(): a Globex employee
# (gil) and an "Operator" organisation whose users sue (app role support) and oli (app role
# employee) are marked as the operator's staff with iam.set_staff(), in the superuser
# connection, as only expense_ops_admin may.
OPERATOR = "00000000-0000-0000-0000-0000000000d3"
MORE_USERS = {  # name: (user id, org, app role, staff)
    "gil": ("00000000-0000-0000-0000-000000000008", GLOBEX, "employee", False),
    "sue": ("00000000-0000-0000-0000-000000000009", OPERATOR, "support", True),
    "oli": ("00000000-0000-0000-0000-00000000000a", OPERATOR, "employee", True),
}
STAFF = ("sue", "oli")
# The tenant callers of the matrix: each one's organisation.
TENANTS = {"ada": ACME, "sam": ACME, "ana": ACME, "gus": GLOBEX, "gil": GLOBEX}
ORG_NAMES = {ACME: "Acme", GLOBEX: "Globex", None: "internal"}


def user_id(name):
    return (USERS.get(name) or MORE_USERS[name])[0]


def email(name):
    return f"{name}@test"


def start_with_staff(admin_dsn, authenticator_dsn):
    """start(), plus gil, the Operator organisation and its staff, all logged in.
    Returns the superuser connection, the client and each user's token (None for anonymous)."""
    admin, api, tokens = start(admin_dsn, authenticator_dsn)
    with admin.cursor() as cursor:
        cursor.execute("INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)"
                       " VALUES (%s, 'Operator', 'EUR', 'UTC')", (OPERATOR,))
        for name, (uid, org, app_role, staff) in MORE_USERS.items():
            cursor.execute(
                "INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash)"
                " VALUES (%s, %s, %s, %s, %s, iam.hash_password(%s))",
                (uid, org, email(name), name.title(), app_role, PASSWORD))
            if staff:
                cursor.execute("SELECT iam.set_staff(%s, true)", (uid,))
    for name in MORE_USERS:
        response = api.rpc("login", email=email(name), password=PASSWORD)
        if response.status != 200:
            raise RuntimeError(f"{name} cannot log in: {response!r}")
        tokens[name] = response.body["token"]
    tokens["anonymous"] = None
    return admin, api, tokens
