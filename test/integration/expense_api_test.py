#!/usr/bin/python3
"""The rest of the expense domain through the PostgREST-shaped client: the organisation, its
categories and exchange rates, and the audit trail, each with its row-level security matrix
(every application role, another organisation and anonymous, against select, insert, update
and delete); and submissions racing on two connections against the daily limit and duplicate
detection.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import json
import sys
import threading
import time
from decimal import Decimal

import fixtures
from fixtures import ACME, GLOBEX, TRAVEL, USERS, query, start
from postgrest import PostgREST
from tap import check, finish

ROLES = ("ana", "mia", "fay", "ada", "sam", "gus", "anonymous")
WRITERS = {"fay", "ada"}  # finance and admin manage categories and rates
TAXI = "00000000-0000-0000-0000-0000000000c3"  # per-day limit 100.00 EUR


def patch_by_role(api, tokens, path, sql, params, writers, what):
    """PATCH `path` as every caller: each of `writers` changes the one row (`what`), Globex's gus
    finds nothing of Acme's to change (200 []), and everyone else is refused: 401 anonymous,
    403 the rest. `params` may be a function of the caller."""
    for who in ROLES:
        response = api.request("PATCH", path, sql, params(who) if callable(params) else params, token=tokens[who])
        if who in writers:
            check(f"{who}: PATCH {path} {what}", response.status == 200 and len(response.body) == 1, repr(response))
        elif who == "gus":
            check(f"gus: PATCH {path} changes nothing of Acme's (200 [])",
                  response.status == 200 and response.body == [], repr(response))
        else:
            expected = 401 if who == "anonymous" else 403
            check(f"{who}: PATCH {path} is refused ({expected})", response.status == expected, repr(response))


def categories(api, tokens, admin):
    for who in ROLES:
        token = tokens[who]
        response = api.request("GET", "/categories", "SELECT id, name, per_item_limit, base_currency FROM api.categories",
                               token=token)
        if who == "anonymous":
            check("anonymous: GET /categories is 401", response.status == 401, repr(response))
        elif who == "gus":
            check("gus (Globex): GET /categories shows none of Acme's",
                  response.status == 200 and all(row[0] != TRAVEL for row in response.body), repr(response))
        else:
            check(f"{who}: GET /categories lists Acme's Travel category in EUR",
                  response.status == 200 and any(row[0] == TRAVEL and row[3] == "EUR" for row in response.body),
                  repr(response))

        name = f"Books of {who}"
        response = api.request("POST", "/categories",
                               "INSERT INTO api.categories (name, per_item_limit, receipt_threshold)"
                               " VALUES (%s, 80.50, 0) RETURNING id, per_item_limit, receipt_threshold", (name,),
                               token=token)
        if who in WRITERS or who == "gus":
            org, minor = (GLOBEX, 8050) if who == "gus" else (ACME, 8050)
            check(f"{who}: POST /categories creates one, amounts in the base currency (201)",
                  response.status == 201 and response.body[0][1] == Decimal("80.50")
                  and response.body[0][2] == Decimal("0.00"), repr(response))
            stored = query(admin, "SELECT org_id::text, per_item_limit, receipt_threshold FROM expense.categories"
                                  " WHERE name = %s", (name,))
            check(f"{who}: stored in minor units for their own organisation only", stored == [(org, minor, 0)],
                  repr(stored))
        else:
            expected = 401 if who == "anonymous" else 403
            check(f"{who}: POST /categories is refused ({expected})", response.status == expected, repr(response))

        response = api.request("DELETE", "/categories", "DELETE FROM api.categories WHERE id = %s", (TRAVEL,),
                               token=token)
        expected = 401 if who == "anonymous" else (200 if who == "gus" else 403)
        check(f"{who}: DELETE /categories is refused ({expected}{': invisible to Globex' if who == 'gus' else ''})",
              response.status == expected, repr(response))
    patch_by_role(api, tokens, "/categories", "UPDATE api.categories SET per_day_limit = 120 WHERE id = %s RETURNING id",
                  (TRAVEL,), WRITERS, "sets a limit")
    check("Acme's Travel category still exists, with the limit finance or admin set",
          query(admin, "SELECT per_day_limit FROM expense.categories WHERE category_id = %s", (TRAVEL,)) == [(12000,)])

    for name, sql, sqlstate in (
            ("a negative limit", "INSERT INTO api.categories (name, per_item_limit) VALUES ('Neg', -1)", "22X04"),
            ("too many decimals", "INSERT INTO api.categories (name, per_item_limit) VALUES ('Dec', 1.001)", "22X03"),
            ("a 101-character name", "INSERT INTO api.categories (name) VALUES (repeat('n', 101))", "22001"),
            ("a duplicate name", "INSERT INTO api.categories (name) VALUES ('Books of fay')", "23505")):
        response = api.request("POST", "/categories", sql, token=tokens["fay"])
        check(f"a category with {name} is refused ({sqlstate})", response.sqlstate == sqlstate, repr(response))


def exchange_rates(api, tokens, admin):
    for who in ROLES:
        token = tokens[who]
        valid_from = f"2026-0{ROLES.index(who) + 1}-01"
        response = api.request("POST", "/exchange_rates",
                               "INSERT INTO api.exchange_rates (currency, valid_from, rate) VALUES ('USD', %s, 0.91)"
                               " RETURNING currency, rate, base_currency", (valid_from,), token=token)
        if who in WRITERS:
            check(f"{who}: POST /exchange_rates records a rate (201)",
                  response.status == 201 and response.body == [("USD", Decimal("0.91"), "EUR")], repr(response))
        elif who == "gus":
            check("gus: POST /exchange_rates records a rate for Globex, never for Acme",
                  response.status == 201 and query(admin, "SELECT org_id::text FROM expense.exchange_rates"
                                                          " WHERE valid_from = %s", (valid_from,)) == [(GLOBEX,)],
                  repr(response))
        else:
            expected = 401 if who == "anonymous" else 403
            check(f"{who}: POST /exchange_rates is refused ({expected})", response.status == expected, repr(response))
    query(admin, f"INSERT INTO expense.exchange_rates VALUES ('{ACME}', 'GBP', '2026-01-01', 1.15)")
    for who in ROLES:
        response = api.request("GET", "/exchange_rates", "SELECT currency, rate FROM api.exchange_rates WHERE currency = 'GBP'",
                               token=tokens[who])
        if who == "anonymous":
            check("anonymous: GET /exchange_rates is 401", response.status == 401, repr(response))
        elif who == "gus":
            check("gus: GET /exchange_rates shows none of Acme's", response.status == 200 and response.body == [],
                  repr(response))
        else:
            check(f"{who}: GET /exchange_rates shows Acme's GBP rate",
                  response.status == 200 and response.body == [("GBP", Decimal("1.15"))], repr(response))
    patch_by_role(api, tokens, "/exchange_rates",
                  "UPDATE api.exchange_rates SET rate = 1.2 WHERE currency = 'GBP' RETURNING rate", (), WRITERS,
                  "changes the rate")
    check("the rate is what finance and admin set",
          query(admin, "SELECT rate FROM expense.exchange_rates WHERE currency = 'GBP'") == [(Decimal("1.2"),)])
    response = api.request("DELETE", "/exchange_rates", "DELETE FROM api.exchange_rates WHERE currency = 'GBP' RETURNING 1",
                           token=tokens["ana"])
    check("ana: DELETE /exchange_rates is refused (403)", response.status == 403, repr(response))
    response = api.request("DELETE", "/exchange_rates", "DELETE FROM api.exchange_rates WHERE currency = 'GBP' RETURNING 1",
                           token=tokens["fay"])
    check("fay (finance): DELETE /exchange_rates removes it", response.status == 200 and len(response.body) == 1,
          repr(response))
    response = api.request("POST", "/exchange_rates",
                           "INSERT INTO api.exchange_rates (currency, valid_from, rate) VALUES ('XYZ', '2026-01-01', 1)",
                           token=tokens["fay"])
    check("an unknown currency is 400 (22X01)", response.status == 400 and response.sqlstate == "22X01", repr(response))
    response = api.request("POST", "/exchange_rates",
                           "INSERT INTO api.exchange_rates (currency, valid_from, rate) VALUES ('XCG', '2026-01-01', 0.5)"
                           " RETURNING currency", token=tokens["fay"])
    check("XCG, the Caribbean guilder of ISO 4217 amendment 176, is a currency (201)", response.status == 201,
          repr(response))
    response = api.request("POST", "/exchange_rates",
                           "INSERT INTO api.exchange_rates (currency, valid_from, rate) VALUES ('CHF', '2026-01-01', 0)",
                           token=tokens["fay"])
    check("a zero rate is 400 (23514)", response.status == 400 and response.sqlstate == "23514", repr(response))


def organisation(api, tokens, admin):
    for who in ROLES:
        token = tokens[who]
        response = api.request("GET", "/organisation", "SELECT id, name, base_currency FROM api.organisation", token=token)
        if who == "anonymous":
            check("anonymous: GET /organisation is 401", response.status == 401, repr(response))
        else:
            expected = GLOBEX if who == "gus" else ACME
            check(f"{who}: GET /organisation shows their own organisation only",
                  response.status == 200 and [row[0] for row in response.body] == [expected], repr(response))
    patch_by_role(api, tokens, "/organisation", "UPDATE api.organisation SET name = %s WHERE id = %s RETURNING name",
                  lambda who: (f"Acme by {who}", ACME), {"ada"}, "renames it (admin only)")
    check("only the admin's rename reached Acme",
          query(admin, "SELECT name FROM expense.orgs WHERE org_id = %s", (ACME,)) == [("Acme by ada",)])
    response = api.request("PATCH", "/organisation", "UPDATE api.organisation SET base_currency = 'USD' RETURNING 1",
                           token=tokens["ada"])
    check("the base currency cannot change (409)", response.status == 409, repr(response))
    response = api.request("PATCH", "/organisation",
                           "UPDATE api.organisation SET second_approval_threshold = 2500.00, time_zone = 'Europe/Paris'"
                           " RETURNING second_approval_threshold, time_zone", token=tokens["ada"])
    check("the admin sets the threshold and time zone",
          response.status == 200 and response.body == [(Decimal("2500.00"), "Europe/Paris")], repr(response))
    response = api.request("PATCH", "/organisation", "UPDATE api.organisation SET time_zone = 'Mars/Base' RETURNING 1",
                           token=tokens["ada"])
    check("an unknown time zone is 400", response.status == 400, repr(response))
    response = api.request("DELETE", "/organisation", "DELETE FROM api.organisation", token=tokens["ada"])
    check("nobody deletes the organisation (403)", response.status == 403, repr(response))


def audit_trail(api, tokens, admin):
    response = api.request("POST", "/expenses",
                           "INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency)"
                           " VALUES (%s, current_date, 'Audit me', 5, 'EUR') RETURNING id", (TRAVEL,), token=tokens["ana"])
    check("ana creates an expense to audit (201)", response.status == 201, repr(response))
    expense = response.body[0][0]
    visible = {"ana": True, "mia": True, "fay": True, "ada": True, "sam": False, "gus": False}
    for who, sees in visible.items():
        response = api.request("GET", "/expense_events", "SELECT action FROM api.expense_events WHERE expense_id = %s",
                               (expense,), token=tokens[who])
        check(f"{who}: GET /expense_events of Ana's expense -> {'its creation' if sees else 'nothing'}",
              response.status == 200 and response.body == ([("create",)] if sees else []), repr(response))
    response = api.request("GET", "/expense_events", "SELECT 1 FROM api.expense_events", token=None)
    check("anonymous: GET /expense_events is 401", response.status == 401, repr(response))
    for verb, sql in (("PATCH", "UPDATE api.expense_events SET action = 'edit'"),
                      ("DELETE", "DELETE FROM api.expense_events"),
                      ("POST", "INSERT INTO api.expense_events (expense_id, owner_id, action) VALUES (gen_random_uuid(), gen_random_uuid(), 'create')")):
        response = api.request(verb, "/expense_events", sql, token=tokens["ada"])
        check(f"ada: {verb} /expense_events is refused (403)", response.status == 403, repr(response))


class Holder:
    """One request kept open in its own transaction: BEGIN, PostgREST's settings, the statement,
    and no COMMIT until told."""

    def __init__(self, dsn, claims):
        import psycopg2
        self.connection = psycopg2.connect(dsn)
        self.cursor = self.connection.cursor()
        self.cursor.execute("SELECT set_config('role', 'expense_user', true), set_config('request.jwt.claims', %s, true)",
                            (json.dumps(claims),))

    def run(self, sql, params=()):
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def commit(self):
        self.connection.commit()
        self.connection.close()


def races(api, tokens, admin, authenticator_dsn):
    """Two submissions of one owner at once: the per-day limit and duplicate detection hold."""
    query(admin, f"""INSERT INTO expense.categories (category_id, org_id, name, per_day_limit, receipt_threshold)
                     VALUES ('{TAXI}', '{ACME}', 'Taxi', 10000, 100000)""")
    claims = {"role": "expense_user", "sub": USERS["ana"][0]}

    def draft(merchant, amount, days_ago):
        response = api.request("POST", "/expenses",
                               "INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency)"
                               " VALUES (%s, current_date - %s, %s, %s, 'EUR') RETURNING id",
                               (TAXI, days_ago, merchant, amount), token=tokens["ana"])
        return response.body[0][0]

    def second_submission(expense, outcome):
        other = PostgREST(authenticator_dsn, api_jwks)
        outcome.append(other.rpc("submit_expense", token=tokens["ana"], id=expense))
        other.close()

    with admin.cursor() as cursor:
        cursor.execute("SELECT iam.postgrest_jwks()")
        api_jwks = cursor.fetchone()[0]

    # Deterministic: the first submission holds its transaction open; the second must wait for
    # it, then see it and refuse. Without the per-owner lock it would pass at once.
    for rule, first_args, second_args, expected in (
            ("the per-day limit (two 60.00 against 100.00)", ("Meal A", "60.00", 2), ("Meal B", "60.00", 2),
             ("400", "22X35")),
            ("duplicate detection (the same claim twice)", ("Same cab", "42.00", 3), ("Same cab", "42.00", 3),
             ("409", None))):
        first, second = draft(*first_args), draft(*second_args)
        holder = Holder(authenticator_dsn, claims)
        held = holder.run("SELECT api.submit_expense(%s)", (first,))
        outcome = []
        racer = threading.Thread(target=second_submission, args=(second, outcome))
        racer.start()
        racer.join(1.0)
        waited = racer.is_alive()
        holder.commit()
        racer.join(10)
        check(f"{rule}: a second submission waits for the first one's transaction", waited, repr(outcome))
        response = outcome[0] if outcome else None
        check(f"{rule}: and is then refused ({expected[0]})",
              held[0][0].get("status") == "submitted" and response is not None
              and str(response.status) == expected[0] and (expected[1] is None or response.sqlstate == expected[1]),
              repr(response))

    # Truly concurrent, repeatedly: two threads released together, exactly one passes.
    for attempt in range(5):
        days_ago = 10 + attempt
        pair = [draft(f"Dinner {attempt}{side}", "60.00", days_ago) for side in "ab"]
        barrier = threading.Barrier(2)
        results = [None, None]

        def submit(index):
            client = PostgREST(authenticator_dsn, api_jwks)
            barrier.wait()
            results[index] = client.rpc("submit_expense", token=tokens["ana"], id=pair[index])
            client.close()

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        statuses = sorted(response.status for response in results if response is not None)
        check(f"race {attempt + 1}: two 60.00 submissions at once against a 100.00 daily limit, one passes",
              statuses == [200, 400], repr(results))
    total = query(admin, "SELECT coalesce(max(t), 0) FROM (SELECT sum(base_amount_minor) t FROM expense.expenses"
                         " WHERE category_id = %s AND status = 'submitted' GROUP BY expense_date) d", (TAXI,))[0][0]
    check("no day ever went over the limit", total <= 10000, repr(total))


def main(admin_dsn, authenticator_dsn):
    admin, api, tokens = start(admin_dsn, authenticator_dsn)
    tokens["anonymous"] = None
    categories(api, tokens, admin)
    exchange_rates(api, tokens, admin)
    organisation(api, tokens, admin)
    audit_trail(api, tokens, admin)
    races(api, tokens, admin, authenticator_dsn)
    api.close()
    admin.close()
    return finish()


if __name__ == "__main__":
    sys.exit(fixtures.api_suite("expense_api", main))
