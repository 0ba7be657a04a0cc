#!/usr/bin/python3
"""The demo data of make run (scripts/demo-data.sql, then the synthetic monitoring of
scripts/demo-monitoring.sql) loads, covers what the demo shows, and its users log in.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import sys

import fixtures
from fixtures import psql, tail, value
from tap import check, diag, finish

DATABASE = "expense_ops_demo"


def main():
    diag("the demo data of make run loads, and its users log in")
    loaded = psql(DATABASE, "-o", "/dev/null", "-c", "CREATE EXTENSION expense_ops", "-f", fixtures.DEMO_DATA)
    check("scripts/demo-data.sql loads", loaded.returncode == 0, tail(loaded.stdout, 5))
    states = value(DATABASE, "SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM expense.expenses")
    check(f"its expenses are in every state ({states})", states == "approved,draft,reimbursed,rejected,submitted")
    currencies = value(DATABASE, "SELECT count(DISTINCT currency) FROM expense.expenses")
    check(f"in several currencies ({currencies})", currencies >= 3)
    check("ana@example.com logs in with the password 'secret'",
          value(DATABASE, "SELECT api.login('ana@example.com', 'secret') ? 'token'") is True)
    kinds = value(DATABASE, "SELECT count(*) FROM (SELECT DISTINCT kind, priority FROM ops.tickets) k")
    check(f"its tickets cover every kind and priority ({kinds} of 20 pairs)", kinds == 20)
    board = value(DATABASE, "SELECT string_agg(DISTINCT s::text, ',' ORDER BY s::text)"
                            " FROM ops.sla_board, unnest(ARRAY[response_state, resolution_state]) s")
    check(f"its SLA board shows every clock state ({board})", board == "at_risk,breached,met,on_track,paused")

    diag("the monitoring demo")
    loaded = psql(DATABASE, "-o", "/dev/null", "-f", fixtures.DEMO_MONITORING)
    check("scripts/demo-monitoring.sql loads", loaded.returncode == 0 and "ERROR" not in loaded.stdout,
          tail(loaded.stdout, 5))
    routes = value(DATABASE, "SELECT count(*) FROM ops.request_metrics(now() - interval '30 minutes')"
                             " WHERE route <> '*' AND p95_ms > 0")
    login = value(DATABASE, "SELECT p95_ms FROM ops.request_metrics(now() - interval '30 minutes', now(), '/rpc/login')"
                            " WHERE route = '/rpc/login'")
    check(f"per-route P95 from sketches ({routes} routes, login {login} ms)", routes == 4 and 650 < login < 760)
    uptime = value(DATABASE, "SELECT count(*) FROM ops.checks c, ops.uptime_daily(c.check_id, 30) u"
                             " WHERE u.up_percent < 100")
    check(f"uptime per check shows the outages ({uptime} days below 100 %)", uptime >= 2)
    alert = ("SELECT count(*) FROM ops.alert_status(now()) WHERE rule = %s AND state = %s"
             " AND (silenced_by <> '{}') = %s AND (inhibited_by <> '{}') = %s")
    for rule, state, silenced, inhibited in (("HealthCheckDown", "firing", False, False),
                                             ("HighMemory", "resolved", False, False),
                                             ("HighCpu", "firing", True, False),
                                             ("SlowResponses", "firing", False, True)):
        found = value(DATABASE, alert, (rule, state, silenced, inhibited))
        check(f"{rule} is {state}{', silenced' if silenced else ''}{', inhibited' if inhibited else ''}", found == 1)
    told = value(DATABASE, "SELECT array_agg(DISTINCT a->'labels'->>'alertname')"
                           " FROM ops.notifications, jsonb_array_elements(payload->'alerts') a WHERE channel = 'log'")
    told = set(told or [])
    check(f"the outbox told the log channel of the firing, resolved and paging alerts ({sorted(told)})",
          {"HealthCheckDown", "HighMemory", "TicketPage"} <= told)
    check("and of nothing silenced or inhibited", not told & {"HighCpu", "SlowResponses", "HighErrorRate"},
          repr(sorted(told)))
    incident = value(DATABASE, "SELECT t.priority || ' ' || t.must_page FROM ops.tickets t"
                               " JOIN ops.alerts a ON a.incident_ticket_id = t.ticket_id WHERE a.rule = 'HealthCheckDown'")
    check(f"HealthCheckDown opened a P0 incident that pages ({incident})", incident == "P0 true")
    symptom = value(DATABASE, "SELECT count(*) FROM ops.alerts WHERE rule = 'HighErrorRate' AND state = 'firing'"
                              " AND incident_ticket_id IS NULL")
    check("HighErrorRate fires, inhibited by HealthCheckDown, and opens no incident of its own", symptom == 1,
          repr(symptom))
    return finish()


if __name__ == "__main__":
    with fixtures.database(DATABASE, extension=False):
        sys.exit(main())
