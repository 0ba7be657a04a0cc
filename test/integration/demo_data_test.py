#!/usr/bin/python3
"""The demo data of make run (scripts/demo-data.sql) loads, covers what the demo shows, and its
users log in.

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
    return finish()


if __name__ == "__main__":
    with fixtures.database(DATABASE, extension=False):
        sys.exit(main())
