#!/usr/bin/python3
"""api.expenses through the PostgREST-shaped client: the row-level security matrix (every
application role, anonymous and another organisation, against select, insert, update and
delete), bad input, and the audit trail.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import sys

import psycopg2

import fixtures
from fixtures import TRAVEL, USERS, start
from tap import check, finish


def create(api, token, amount="12.30", currency="EUR", days_ago=1, **extra):
    columns = {"category_id": TRAVEL, "expense_date": None, "merchant": "Taxi Zürich",
               "amount": amount, "currency": currency, **extra}
    names = ", ".join(columns)
    values = ", ".join("current_date - %s" if key == "expense_date" else "%s" for key in columns)
    params = tuple(days_ago if key == "expense_date" else value for key, value in columns.items())
    return api.request("POST", "/expenses",
                       f"INSERT INTO api.expenses ({names}) VALUES ({values}) RETURNING id, amount, status, user_id",
                       params, token=token)


def main(admin_dsn, authenticator_dsn):
    admin, api, tokens = start(admin_dsn, authenticator_dsn)
    tokens["anonymous"] = None

    # Ana's draft is the row everybody tries.
    response = create(api, tokens["ana"])
    check("an employee creates an expense through POST /expenses (201)",
          response.status == 201 and str(response.body[0][1]) == "12.30" and response.body[0][2] == "draft",
          repr(response))
    draft = response.body[0][0]
    check("the expense belongs to its creator", response.body[0][3] == USERS["ana"][0], repr(response))

    # The matrix: who may select, insert, update and delete Ana's draft.
    expected = {  # caller: (sees it, may insert own, may update it, may delete it)
        "ana": (True, True, True, True),
        "mia": (True, True, False, False),   # her manager sees, but only the owner edits drafts
        "fay": (True, True, False, False),   # finance sees the whole organisation
        "ada": (True, True, False, False),   # so does admin
        "ben": (False, True, False, False),  # a colleague sees nothing of Ana's
        "sam": (False, True, False, False),  # support is not finance
        "gus": (False, False, False, False),  # another organisation's admin: nothing, and no category
        "anonymous": (False, False, False, False),
    }
    for caller, (sees, inserts, updates, deletes) in expected.items():
        token = tokens[caller]
        response = api.request("GET", "/expenses", "SELECT id FROM api.expenses WHERE id = %s", (draft,), token=token)
        saw = response.status == 200 and len(response.body) == 1
        check(f"{caller}: select Ana's draft -> {'visible' if sees else 'invisible'}", saw == sees, repr(response))

        response = create(api, token)
        inserted = response.status == 201
        check(f"{caller}: insert an expense of their own -> {'allowed' if inserts else 'refused'}",
              inserted == inserts, repr(response))
        if caller == "anonymous":
            check("anonymous: the refusal is 401", response.status == 401, repr(response))
        if inserted:
            api.request("DELETE", "/expenses", "DELETE FROM api.expenses WHERE id = %s", (response.body[0][0],),
                        token=token)

        response = api.request("PATCH", "/expenses",
                               "UPDATE api.expenses SET merchant = 'Changed by ' || %s WHERE id = %s RETURNING id",
                               (caller, draft), token=token)
        changed = response.status == 200 and len(response.body) == 1
        check(f"{caller}: update Ana's draft -> {'allowed' if updates else 'refused'}", changed == updates,
              repr(response))

        if caller != "ana":
            response = api.request("DELETE", "/expenses", "DELETE FROM api.expenses WHERE id = %s RETURNING id",
                                   (draft,), token=token)
            removed = response.status == 200 and len(response.body) == 1
            check(f"{caller}: delete Ana's draft -> refused", not removed, repr(response))

    with admin.cursor() as cursor:
        cursor.execute("SELECT merchant FROM expense.expenses WHERE expense_id = %s", (draft,))
        merchant = cursor.fetchone()[0]
    check("only Ana's own edit reached the row", merchant == "Changed by ana", merchant)

    # Bad input: each a clear error with its status, and nothing written.
    cases = [
        ("too many decimals", dict(amount="12.345"), 400, "22X03"),
        ("an unknown currency", dict(currency="XYZ"), 400, "22X01"),
        ("a zero amount", dict(amount="0"), 400, "22X04"),
        ("a huge amount", dict(amount="1e15"), 400, "22X05"),
        ("a NULL amount", dict(amount=None), 400, "22004"),
        ("a future date", dict(days_ago=-3), 400, "22X20"),
        ("an ancient date", dict(days_ago=400), 400, "22X21"),
        ("someone else's user_id", dict(user_id=USERS["ben"][0]), 403, "42501"),
        ("a status other than draft", dict(status="approved"), 400, "22X30"),
        ("an empty merchant", dict(merchant=" "), 400, "23514"),
    ]
    with admin.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM expense.expenses")
        before = cursor.fetchone()[0]
    for name, arguments, status, sqlstate in cases:
        response = create(api, tokens["ana"], **arguments)
        check(f"{name} is refused with {status} ({sqlstate})",
              response.status == status and response.sqlstate == sqlstate, repr(response))
    with admin.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM expense.expenses")
        after = cursor.fetchone()[0]
    check("and none of them wrote anything", before == after, f"{before} -> {after}")

    response = create(api, tokens["ana"], merchant="Robert'); DROP TABLE expense.expenses;--", amount="1500",
                      currency="JPY")
    check("SQL metacharacters are stored as text, and JPY takes no decimals",
          response.status == 201 and str(response.body[0][1]) == "1500", repr(response))
    response = api.request("GET", "/expenses", "SELECT merchant FROM api.expenses WHERE id = %s",
                           (response.body[0][0],), token=tokens["ana"])
    check("and read back unchanged", response.body == [("Robert'); DROP TABLE expense.expenses;--",)], repr(response))

    # The audit trail: every write of Ana's draft, and nobody rewrites it.
    response = api.request("GET", "/expense_events",
                           "SELECT action, actor_id FROM expense.expense_events WHERE expense_id = %s ORDER BY event_id",
                           (draft,), token=tokens["ana"])
    check("the audit trail holds the creation and the edit, by Ana",
          response.body == [("create", USERS["ana"][0]), ("edit", USERS["ana"][0])], repr(response))
    for caller in ("ana", "ada"):
        response = api.request("PATCH", "/expense_events", "UPDATE expense.expense_events SET action = 'edit'",
                               token=tokens[caller])
        check(f"{caller} cannot rewrite the audit trail (403)", response.status == 403, repr(response))
        response = api.request("DELETE", "/expense_events", "DELETE FROM expense.expense_events",
                               token=tokens[caller])
        check(f"{caller} cannot delete from it (403)", response.status == 403, repr(response))
    with admin.cursor() as cursor:
        try:
            cursor.execute("DELETE FROM expense.expense_events")
            superuser_refused = False
        except psycopg2.Error as error:
            superuser_refused = error.pgcode == "42501"
    check("not even a superuser deletes from it", superuser_refused)

    api.close()
    admin.close()
    return finish()


if __name__ == "__main__":
    sys.exit(fixtures.api_suite("expenses", main))
