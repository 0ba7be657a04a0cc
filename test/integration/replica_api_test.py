"""The read-only API on a streaming standby, through the PostgREST-shaped client: tokens come
from the primary (a login writes), and every read endpoint answers from the standby; writes
are refused there as PostgREST refuses them (25006, 405).

Usage: replica_api_test.py PRIMARY_ADMIN_DSN PRIMARY_AUTHENTICATOR_DSN STANDBY_AUTHENTICATOR_DSN
The databases hold scripts/demo-data.sql.
"""

import sys

import psycopg2

from postgrest import PostgREST
from tap import check, finish

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


def main(admin_dsn, primary_dsn, standby_dsn):
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
    return finish("replica api")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
