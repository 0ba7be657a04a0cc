#!/usr/bin/python3
"""Streaming replication, for real: a standby made with pg_basebackup -R from the test cluster,
on a database holding scripts/demo-data.sql.
  * health on both sides: a streaming standby is ok; cut off from its primary it says so
    (api.health() and api.health_db()); a primary expecting a replica notices it is gone;
  * the replay lag after an idle period is the pending WAL's, not the idle time;
  * the read-only API on the standby, through the PostgREST-shaped client: tokens come from the
    primary (a login writes), every read endpoint answers from the standby, and writes are
    refused there as PostgREST refuses them (25006, 405);
  * the worker refuses to run against the standby instead of failing every write.

It stops and starts the test cluster (CLUSTER_BASE), so no other file may run meanwhile.
Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import os
import sys
import time

import psycopg2

import fixtures
from fixtures import (PGHOST, PGPORT, cluster_sh, cluster_start, cluster_stop, psql, tail, value,
                      wait_until)
from postgrest import PostgREST
from tap import check, diag, finish

DATABASE = "expense_ops_replica"

READS = {  # path: statement; each must answer 200 on the standby
    "/rpc/health": "SELECT api.health()->>'status'",
    "/rpc/health_db": "SELECT api.health_db()->>'status'",
    "/expenses": "SELECT id, amount, status FROM api.expenses",
    "/categories": "SELECT id, name FROM api.categories",
    "/exchange_rates": "SELECT currency, rate FROM api.exchange_rates",
    "/organisation": "SELECT id, name FROM api.organisation",
    "/expense_events": "SELECT event_id, action FROM api.expense_events",
    "/rpc/expense_summary": "SELECT * FROM api.expense_summary(current_date - 30, current_date)",
    "/tickets": "SELECT id, state FROM api.tickets",
    "/ticket_events": "SELECT event_id, action FROM api.ticket_events",
    "/sla_board": "SELECT ticket_id, response_state FROM api.sla_board",
    "/feature_backlog": "SELECT ticket_id, score FROM api.feature_backlog",
    "/rpc/sla_report": "SELECT * FROM api.sla_report(now() - interval '30 days', now())",
    "/rpc/ticket_counts": "SELECT * FROM api.ticket_counts(now() - interval '30 days', now())",
}


def read_only_api(admin_dsn, primary_dsn, standby_dsn):
    """Every read endpoint answers on the standby as on the primary; writes are refused."""
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT iam.postgrest_jwks()")
        jwks = cursor.fetchone()[0]
        cursor.execute("SELECT min(ticket_id) FROM ops.tickets WHERE org_id IS NOT NULL")
        ticket = cursor.fetchone()[0]
    primary = PostgREST(primary_dsn, jwks)
    standby = PostgREST(standby_dsn, jwks)
    tokens = {who: primary.rpc("login", email=email, password="secret").body["token"]
              for who, email in (("ana", "ana@example.com"), ("ada", "ada@example.com"),
                                 ("sue", "sue@ops.example.com"))}

    with standby.connection.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        in_recovery = cursor.fetchone()[0]
    standby.connection.rollback()
    check("the second client is connected to a standby", in_recovery)

    for who in ("ada", "sue"):
        for path, sql in READS.items():
            on_primary = primary.request("GET", path, sql, token=tokens[who])
            on_standby = standby.request("GET", path, sql, token=tokens[who])
            check(f"{who}: GET {path} answers on the standby as on the primary (200)",
                  on_standby.status == 200 and on_primary.status == 200
                  and sorted(map(repr, on_standby.body)) == sorted(map(repr, on_primary.body)),
                  f"{on_standby!r} vs {on_primary!r}")
    response = standby.rpc("ticket_sla", token=tokens["ana"], ticket_id=ticket)
    check("ana: GET /rpc/ticket_sla of her organisation's ticket works on the standby",
          response.status == 200 and response.body["ticket_id"] == ticket, repr(response))
    response = standby.request("GET", "/rpc/health", "SELECT api.health()->>'status'")
    check("anonymous: GET /rpc/health works on the standby", response.status == 200, repr(response))

    response = standby.request("POST", "/expenses",
                               "INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency)"
                               " VALUES ('c0000000-0000-4000-8000-000000000001', current_date, 'x', 1, 'EUR')",
                               token=tokens["ana"])
    check("a write on the standby is refused as read-only (25006, 405)",
          response.status == 405 and response.sqlstate == "25006", repr(response))
    response = standby.rpc("login", email="ana@example.com", password="secret")
    check("and so is a login, which records its attempt (405)", response.status == 405, repr(response))

    primary.close()
    standby.close()
    admin.close()


class Standby:
    """A hot standby of the test cluster in a directory of its own, streaming from it."""

    def __init__(self, base):
        self.base = base
        self.port = str(fixtures.free_port(int(PGPORT) + 100))
        self.conf = os.path.join(base, "data", "postgresql.conf")

    def make(self):
        """pg_basebackup -R, then the standby's own port and socket: the output, None on success."""
        cluster_sh('chown "$SERVER_USER": "$1"', self.base)
        made = cluster_sh('as_server_user "$PG_BIN/pg_basebackup" -h "$1" -p "$2" -U postgres -D "$3/data"'
                          ' -R -X stream -c fast', PGHOST, PGPORT, self.base)
        if made.returncode != 0:
            return tail(made.stdout, 5)
        self.configure(f"port = {self.port}\nunix_socket_directories = '{self.base}'\nhot_standby = on\n"
                       "wal_retrieve_retry_interval = 1s\n")
        return None

    def configure(self, lines):
        """Appends LINES to its postgresql.conf, and reloads it if it runs."""
        cluster_sh('as_server_user tee -a "$1" >/dev/null', self.conf, input=lines)
        self.reload()

    def unconfigure(self, setting):
        cluster_sh('as_server_user sed -i "/$2/d" "$1"', self.conf, setting)
        self.reload()

    def reload(self):
        cluster_sh('[ ! -f "$1/data/postmaster.pid" ] || as_server_user "$PG_BIN/pg_ctl" -D "$1/data" reload >/dev/null',
                   self.base)

    def value(self, sql, user=None):
        return value(DATABASE, sql, host=self.base, port=self.port, user=user)

    def admits(self, user):
        return self.value("SELECT 1", user) == 1

    def health_is(self, status):
        return self.value("SELECT api.health_db()->>'status'") == status


def main(work):
    primary_base = fixtures.environment("CLUSTER_BASE")
    standby = Standby(work)

    def primary_value(sql):
        return value(DATABASE, sql)

    loaded = psql(DATABASE, "-o", "/dev/null", "-c", "CREATE EXTENSION expense_ops", "-f", fixtures.DEMO_DATA)
    if not check("the demo data loads on the primary", loaded.returncode == 0, tail(loaded.stdout, 5)):
        return finish()
    failure = standby.make()
    if not check("pg_basebackup -R makes a standby", failure is None, failure):
        return finish()
    if not check("the standby starts", cluster_start(standby.base),
                 tail(fixtures.read(os.path.join(standby.base, "server.log")), 5)):
        return finish()
    check("the standby streams from the primary",
          wait_until(30, lambda: standby.value("SELECT status FROM pg_stat_wal_receiver") == "streaming"))

    diag("health on a streaming standby and its primary")
    wait_until(10, lambda: standby.health_is("ok"))
    report = standby.value("SELECT api.health_db()::text")
    check(f"a streaming standby's api.health_db() is ok, role standby, receiver streaming ({report})",
          standby.value("SELECT h->>'status' || '/' || (h->'replication'->>'role') || '/' || (h->'replication'->>'wal_receiver')"
                        " FROM api.health_db() h") == "ok/standby/streaming")
    check("its api.health() shows the receiver streaming and no replication finding",
          standby.value("SELECT (h->'replication'->>'streaming') || '/' ||"
                        " NOT jsonb_path_exists(h, '$.findings[*] ? (@.check == \"replication\")') FROM api.health() h")
          == "true/true")
    check("the primary sees one streaming replica",
          primary_value("SELECT api.health_db()->'replication'->>'streaming_replicas'") == "1")
    check("and so do its metrics: one standby, streaming, counted by ops.standby_count()",
          primary_value("SELECT string_agg(state, ',') || '/' || count(*) || '/' || ops.standby_count()"
                        " FROM ops.replication_metrics()") == "streaming/1/1")
    check("the standby's metrics describe itself: self, its receiver streaming, no standby count",
          standby.value("SELECT string_agg(standby || ':' || state, ',') || '/' ||"
                        " coalesce(ops.standby_count()::text, 'none') FROM ops.replication_metrics()")
          == "self:streaming/none")
    primary_value("UPDATE ops.health_settings SET expected_replicas = 1")
    wait_until(10, lambda: standby.value("SELECT expected_replicas FROM ops.health_settings") == 1)
    check("expecting one replica, with one streaming, the primary is ok",
          primary_value("SELECT api.health_db()->>'status'") == "ok")

    diag("the replay lag after an idle period")
    # Replay waits 2 s behind its primary, so a commit stays received-but-unreplayed that long.
    standby.configure("recovery_min_apply_delay = '2s'\n")
    time.sleep(6)  # idle: nothing to replay
    primary_value("UPDATE ops.sla_settings SET next_release_fallback = next_release_fallback")
    samples = []
    for _ in range(6):
        samples.append(standby.value("SELECT (h->'replication'->>'replay_lag_bytes') || ':' ||"
                                     " (h->'replication'->>'replay_lag_seconds') FROM api.health_db() h"))
        time.sleep(0.25)
    shown = " ".join(map(str, samples))
    check(f"while the commit waits to be replayed, the standby shows pending bytes ({shown})",
          any(sample and sample.split(":")[0] != "0" for sample in samples))
    check(f"and a lag of the pending WAL's age (under 4 s), not the 6 idle seconds ({shown})",
          all(sample and float(sample.split(":")[1]) < 4 for sample in samples))
    standby.unconfigure("recovery_min_apply_delay")

    diag("the read-only API on the standby")
    wait_until(10, lambda: standby.value("SELECT api.health_db()->'replication'->>'replay_lag_bytes'") == "0")
    with fixtures.authenticator_role() as authenticator:
        wait_until(10, lambda: standby.admits(authenticator))
        read_only_api(fixtures.dsn(DATABASE), fixtures.dsn(DATABASE, user=authenticator),
                      fixtures.dsn(DATABASE, user=authenticator, host=standby.base, port=standby.port))

    diag("the worker against a standby")
    with fixtures.worker_role() as worker_user:
        wait_until(10, lambda: standby.admits(worker_user))
        with fixtures.Worker(os.path.join(work, "standby-worker.log"), "--heartbeat-interval", "0.2",
                             "--reconnect-initial-delay", "0.2", "--reconnect-max-delay", "0.4",
                             worker_id="it-standby",
                             dsn=fixtures.dsn(DATABASE, user=worker_user, host=standby.base, port=standby.port)) as worker:
            time.sleep(3)
            check("the worker connected to a standby keeps running", worker.running())
            worker.stop()
            log = worker.output()
        check("it says once, clearly, that it refuses a standby",
              log.count('"level":"warning","event":"standby_refused"') == 1, tail(log, 5))
        check("and retries with backoff instead of failing writes (no 25006, no SQL in its log)",
              not any(text in log for text in ("25006", "INSERT INTO", "SELECT ops")), tail(log, 5))

    diag("a standby cut off from its primary, and a primary without its replica")
    cluster_stop(primary_base)
    check("without its primary the standby's api.health_db() is degraded, naming replication",
          wait_until(20, lambda: standby.value(
              "SELECT h->>'status' = 'degraded' AND jsonb_path_exists(h, '$.findings[*] ? (@.check == \"replication\")')"
              " FROM api.health_db() h")))
    health = standby.value("SELECT api.health()::text")
    check(f"and its api.health() names replication as the first finding ({health})",
          standby.value("SELECT h->>'status' || '/' || (h->'findings'->0->>'check') FROM api.health() h")
          == "degraded/replication")
    cluster_start(primary_base)
    check("once the primary is back, the standby streams again and is ok",
          wait_until(30, lambda: standby.health_is("ok")))
    cluster_stop(standby.base)
    check("the primary expecting one replica is degraded once its only replica is gone",
          wait_until(20, lambda: "0 of 1 expected replicas stream"
                     in primary_value("SELECT api.health_db()->'findings'->0->>'message'")))
    check("and ops.standby_count() counts none",
          primary_value("SELECT ops.standby_count()") == 0)
    return finish()


if __name__ == "__main__":
    # Exits run backwards: the primary runs again before its database is dropped.
    with fixtures.workdir("expense_ops_standby.") as work, fixtures.database(DATABASE, extension=False), \
            fixtures.primary_restored():
        try:
            status = main(work)
        finally:
            cluster_stop(work)
    sys.exit(status)
