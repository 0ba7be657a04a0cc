#!/usr/bin/python3
"""The monitoring API (issue 10, section 9) through the PostgREST-shaped client: operator data
for the operator's staff only.

  * the matrix: staff (sue, oli), Acme's admin ada, its support-role user sam and employee ana,
    Globex's admin gus and employee gil, and the anonymous caller, against GET /alerts,
    /alert_events and /silences, and POST /rpc/metrics_summary, create_silence, expire_silence,
    create_maintenance_window and end_maintenance_window: staff get the data, tenants no rows
    and 403 (42501), anonymous 401, and a refusal writes nothing;
  * what staff see: a silenced alert says so and by which silence, until it is expired;
  * bad input from staff: a silence ending before it starts (22X72), a bad regex (22X64), no
    matchers (22X72), a window that is not positive (22023), each 400 and writing nothing.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import json
import sys

import fixtures
from fixtures import STAFF, query, start_with_staff
from tap import check, diag, finish

CALLERS = ("sue", "oli", "ada", "sam", "ana", "gus", "gil", "anonymous")
VIEWS = {
    "/alerts": "SELECT fingerprint, rule, state, silenced, silenced_by FROM api.alerts",
    "/alert_events": "SELECT event_id, rule, to_state FROM api.alert_events",
    "/silences": "SELECT silence_id, status FROM api.silences",
}
HOST_MATCHERS = json.dumps([{"name": "alertname", "op": "=", "value": "ApiTestCpu"}])


def expected_refusal(who):
    return 401 if who == "anonymous" else 403


def counts(admin):
    return query(admin, "SELECT (SELECT count(*) FROM ops.silences), (SELECT count(*) FROM ops.maintenance_windows),"
                        " (SELECT count(*) FILTER (WHERE ends_at > now()) FROM ops.silences)")[0]


def seed(admin):
    """A firing alert on a real evaluation: a host too hot right now."""
    query(admin, "SELECT count(*) FROM ops.maintain_partitions(now())")
    query(admin, "UPDATE ops.alert_rules SET enabled = false")
    query(admin, "INSERT INTO ops.alert_rules (rule, metric, comparator, threshold, severity, summary)"
                 " VALUES ('ApiTestCpu', 'host_cpu_percent', '>', 80, 'high', 'CPU of {{ $labels.host }}')")
    query(admin, "INSERT INTO ops.host_samples (host, at, cpu_percent)"
                 " SELECT 'db1', now() - s * interval '10 seconds', 95 FROM generate_series(0, 5) s")
    query(admin, "SELECT * FROM ops.evaluate_alerts(now())")
    query(admin, "INSERT INTO ops.silences (matchers, ends_at, comment)"
                 " VALUES ('[{\"name\": \"alertname\", \"op\": \"=\", \"value\": \"Nothing\"}]',"
                 "         now() + interval '1 day', 'silences nothing here')")
    state = query(admin, "SELECT state FROM ops.alerts WHERE rule = 'ApiTestCpu'")
    check("the seeded alert fires", state == [("firing",)], repr(state))


def matrix(api, tokens, admin):
    for who in CALLERS:
        token = tokens[who]
        staff = who in STAFF
        for path, sql in VIEWS.items():
            response = api.request("GET", path, sql, token=token)
            if staff:
                check(f"{who} GET {path}: 200 with rows", response.status == 200 and len(response.body) > 0,
                      repr(response))
            elif who == "anonymous":
                check(f"{who} GET {path}: 401", response.status == 401 and response.sqlstate == "42501",
                      repr(response))
            else:
                check(f"{who} GET {path}: 200 and no rows", response.status == 200 and response.body == [],
                      repr(response))

        response = api.rpc("metrics_summary", token=token, period="1 hour")
        if staff:
            body = response.body if isinstance(response.body, dict) else {}
            check(f"{who} metrics_summary: 200 with every section",
                  response.status == 200 and set(body) >= {"requests", "hosts", "checks", "objectives", "errors", "alerts"}
                  and body["alerts"]["firing"] >= 1, repr(response)[:400])
        else:
            check(f"{who} metrics_summary: {expected_refusal(who)}",
                  response.status == expected_refusal(who) and response.sqlstate == "42501", repr(response))

        before = counts(admin)
        made = api.rpc("create_silence", token=token, matchers=HOST_MATCHERS, ends_at="2099-01-01T00:00:00Z",
                       comment=f"silenced by {who}")
        window = api.rpc("create_maintenance_window", token=token,
                         matchers=json.dumps([{"name": "check_id", "op": "=", "value": "health"}]),
                         starts_at="2099-01-01T00:00:00Z", ends_at="2099-01-01T01:00:00Z", reason=f"planned by {who}")
        if staff:
            ok = made.status == 200 and isinstance(made.body, dict) and window.status == 200
            check(f"{who} creates a silence and a maintenance window", ok, f"{made!r} {window!r}")
            if not ok:
                continue
            check(f"{who} is the silence's author", made.body["author"] == f"{who}@test", repr(made.body))
            alerts = api.request("GET", "/alerts", VIEWS["/alerts"] + " WHERE rule = 'ApiTestCpu'", token=token)
            silenced = alerts.body[0] if alerts.status == 200 and alerts.body else None
            check(f"{who} sees the alert silenced by it",
                  silenced is not None and silenced[3] is True and made.body["silence_id"] in silenced[4],
                  repr(alerts))
            expired = api.rpc("expire_silence", token=token, silence_id=made.body["silence_id"])
            ended = api.rpc("end_maintenance_window", token=token, window_id=window.body["window_id"])
            check(f"{who} expires the silence and ends the window",
                  expired.status == 200 and expired.body["expired_at"] is not None and ended.status == 200,
                  f"{expired!r} {ended!r}")
            alerts = api.request("GET", "/alerts", VIEWS["/alerts"] + " WHERE rule = 'ApiTestCpu'", token=token)
            check(f"{who} sees the alert no longer silenced",
                  alerts.status == 200 and alerts.body and alerts.body[0][3] is False, repr(alerts))
        else:
            status = expected_refusal(who)
            check(f"{who} create_silence: {status}", made.status == status and made.sqlstate == "42501", repr(made))
            check(f"{who} create_maintenance_window: {status}", window.status == status and window.sqlstate == "42501",
                  repr(window))
            target = query(admin, "SELECT max(silence_id), (SELECT max(window_id) FROM ops.maintenance_windows)"
                                  " FROM ops.silences")[0]
            if target[0] is not None:
                response = api.rpc("expire_silence", token=token, silence_id=target[0])
                check(f"{who} expire_silence: {status}", response.status == status, repr(response))
            if target[1] is not None:
                response = api.rpc("end_maintenance_window", token=token, window_id=target[1])
                check(f"{who} end_maintenance_window: {status}", response.status == status, repr(response))
            check(f"{who}'s refusals wrote nothing", counts(admin) == before, f"{before} -> {counts(admin)}")


def bad_input(api, tokens, admin):
    token = tokens["sue"]
    before = counts(admin)
    cases = [
        ("a silence that ends before it starts", "22X72",
         dict(matchers=HOST_MATCHERS, ends_at="2020-01-01T00:00:00Z", comment="backwards")),
        ("a matcher whose regex does not compile", "22X64",
         dict(matchers=json.dumps([{"name": "host", "op": "=~", "value": "db("}]), ends_at="2099-01-01T00:00:00Z",
              comment="bad regex")),
        ("no matchers", "22X72", dict(matchers="[]", ends_at="2099-01-01T00:00:00Z", comment="everything")),
        ("an unknown operator", "22X64",
         dict(matchers=json.dumps([{"name": "host", "op": "~", "value": "db"}]), ends_at="2099-01-01T00:00:00Z",
              comment="bad op")),
    ]
    for name, sqlstate, arguments in cases:
        response = api.rpc("create_silence", token=token, **arguments)
        check(f"create_silence refuses {name}: 400 {sqlstate} with a hint",
              response.status == 400 and response.sqlstate == sqlstate and response.body.get("hint"),
              repr(response))
    response = api.rpc("create_maintenance_window", token=token, matchers=HOST_MATCHERS,
                       starts_at="2099-01-02T00:00:00Z", ends_at="2099-01-01T00:00:00Z", reason="backwards")
    check("create_maintenance_window refuses an end before the start: 400 22X72",
          response.status == 400 and response.sqlstate == "22X72", repr(response))
    response = api.rpc("create_maintenance_window", token=token, matchers=HOST_MATCHERS,
                       starts_at="2020-01-01T00:00:00Z", ends_at="2099-01-01T00:00:00Z", reason="backdated")
    check("create_maintenance_window refuses a window backdated out of the uptime: 400 22023",
          response.status == 400 and response.sqlstate == "22023", repr(response))
    response = api.rpc("metrics_summary", token=token, period="-1 hour")
    check("metrics_summary refuses a negative period: 400 22023",
          response.status == 400 and response.sqlstate == "22023", repr(response))
    response = api.rpc("expire_silence", token=token, silence_id=987654321)
    check("expire_silence of no silence: 404", response.status == 404, repr(response))
    check("bad input wrote nothing", counts(admin) == before, f"{before} -> {counts(admin)}")


def main(admin_dsn, authenticator_dsn):
    admin, api, tokens = start_with_staff(admin_dsn, authenticator_dsn)
    diag("a firing alert")
    seed(admin)
    diag("the matrix")
    matrix(api, tokens, admin)
    diag("bad input")
    bad_input(api, tokens, admin)
    api.close()
    admin.close()
    return finish()


if __name__ == "__main__":
    sys.exit(fixtures.api_suite("alerting_api", main))
