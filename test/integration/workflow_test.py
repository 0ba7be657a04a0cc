#!/usr/bin/python3
"""The expense workflow through the PostgREST-shaped client, for every role that takes part.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import sys
from decimal import Decimal

import psycopg2

import fixtures
from fixtures import ACME, TRAVEL, USERS, start
from tap import check, finish

MEALS = "00000000-0000-0000-0000-0000000000c2"  # per-item limit 500.00
TAXI = "00000000-0000-0000-0000-0000000000c3"   # per-day limit 100.00



class Client:
    def __init__(self, api, tokens):
        self.api = api
        self.tokens = tokens

    def draft(self, who, amount, currency="EUR", category=TRAVEL, merchant="Taxi Zürich", receipt=None,
              days_ago=1):
        response = self.api.request(
            "POST", "/expenses",
            "INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency, receipt_ref)"
            " VALUES (%s, current_date - %s, %s, %s, %s, %s) RETURNING id",
            (category, days_ago, merchant, amount, currency, receipt), token=self.tokens[who])
        assert response.status == 201, response
        return response.body[0][0]

    def step(self, who, function, expense, **extra):
        return self.api.rpc(function, token=self.tokens[who], id=expense, **extra)


def main(admin_dsn, authenticator_dsn):
    admin, api, tokens = start(admin_dsn, authenticator_dsn)
    with admin.cursor() as cursor:
        cursor.execute(f"""
            UPDATE expense.orgs SET second_approval_threshold = 100000 WHERE org_id = '{ACME}';
            INSERT INTO expense.categories (category_id, org_id, name, per_item_limit)
            VALUES ('{MEALS}', '{ACME}', 'Meals', 50000);
            INSERT INTO expense.categories (category_id, org_id, name, per_day_limit)
            VALUES ('{TAXI}', '{ACME}', 'Taxi', 10000);
            INSERT INTO expense.exchange_rates (org_id, currency, valid_from, rate)
            VALUES ('{ACME}', 'USD', '2000-01-01', 0.9), ('{ACME}', 'JPY', '2000-01-01', 0.0062);
        """)
    c = Client(api, tokens)

    # The simple path: submit, approve by the manager, reimburse by finance.
    expense = c.draft("ana", "12.30")
    response = c.step("ana", "submit_expense", expense)
    check("the owner submits a draft (200)",
          response.status == 200 and response.body["status"] == "submitted"
          and Decimal(str(response.body["base_amount"])) == Decimal("12.30"), repr(response))
    for who, status in (("ana", 403), ("ben", 404), ("sam", 404), ("gus", 404)):
        response = c.step(who, "approve_expense", expense)
        check(f"{who} may not approve Ana's expense ({status})", response.status == status, repr(response))
    response = c.step("mia", "approve_expense", expense)
    check("her manager approves it", response.status == 200 and response.body["status"] == "approved",
          repr(response))
    response = c.step("mia", "reimburse_expense", expense)
    check("a manager may not reimburse (403)", response.status == 403, repr(response))
    response = c.step("ada", "reimburse_expense", expense)
    check("nor may an admin (403)", response.status == 403, repr(response))
    response = c.step("fay", "reimburse_expense", expense)
    check("finance reimburses it", response.status == 200 and response.body["status"] == "reimbursed",
          repr(response))
    response = c.step("fay", "reimburse_expense", expense)
    check("reimbursed is final: 409, naming the allowed moves",
          response.status == 409 and "reimbursed is final" in (response.body["hint"] or ""), repr(response))
    response = c.step("ana", "submit_expense", expense)
    check("and cannot be submitted again (409)", response.status == 409, repr(response))

    # Rejection needs a reason; the owner reopens, fixes and resubmits.
    expense = c.draft("ana", "20.00")
    c.step("ana", "submit_expense", expense)
    response = c.step("mia", "reject_expense", expense, reason="  ")
    check("a rejection without a reason is refused (400, 22X32)",
          response.status == 400 and response.sqlstate == "22X32", repr(response))
    response = c.step("mia", "reject_expense", expense)
    check("and so is one with no reason argument at all: 400 (22X32), not 404",
          response.status == 400 and response.sqlstate == "22X32", repr(response))
    response = c.step("mia", "reject_expense", expense, reason="r" * 2001)
    check("a reason of more than 2000 characters is 400 (22001), naming the limit",
          response.status == 400 and response.sqlstate == "22001" and "2000" in response.body["message"],
          repr(response))
    response = c.step("mia", "reject_expense", expense, reason="wrong project code")
    check("with a reason it is rejected", response.status == 200 and response.body["status"] == "rejected",
          repr(response))
    response = api.request("PATCH", "/expenses", "UPDATE api.expenses SET merchant = 'x' WHERE id = %s RETURNING id",
                           (expense,), token=tokens["ana"])
    check("a rejected expense cannot be edited: 409 (PT409), the hint says to reopen it",
          response.status == 409 and response.sqlstate == "PT409" and "reopen" in (response.body["hint"] or ""),
          repr(response))
    response = api.request("GET", "/expenses", "SELECT status, rejection_reason FROM api.expenses WHERE id = %s",
                           (expense,), token=tokens["ana"])
    check("the owner reads why it was rejected", response.body == [("rejected", "wrong project code")],
          repr(response))
    response = c.step("mia", "reopen_expense", expense)
    check("only the owner reopens it (403)", response.status == 403, repr(response))
    response = c.step("ana", "reopen_expense", expense)
    check("the owner reopens it as a draft", response.status == 200 and response.body["status"] == "draft",
          repr(response))
    response = api.request("PATCH", "/expenses", "UPDATE api.expenses SET amount = 18.00 WHERE id = %s RETURNING id",
                           (expense,), token=tokens["ana"])
    check("edits it", response.status == 200 and len(response.body) == 1, repr(response))
    response = c.step("ana", "submit_expense", expense)
    check("and submits it again", response.status == 200 and response.body["status"] == "submitted", repr(response))

    # Above the organisation's threshold (1000.00 EUR): a second approval, by finance.
    expense = c.draft("ana", "1500.00", receipt="receipt-1500")
    c.step("ana", "submit_expense", expense)
    response = c.step("mia", "approve_expense", expense)
    check("above the threshold the first approval leaves it submitted",
          response.status == 200 and response.body["status"] == "submitted", repr(response))
    response = c.step("ada", "approve_expense", expense)
    check("an admin cannot give the second approval (403)", response.status == 403, repr(response))
    response = c.step("fay", "approve_expense", expense)
    check("finance gives it", response.status == 200 and response.body["status"] == "approved", repr(response))
    expense = c.draft("ben", "2000.00", receipt="r")
    c.step("ben", "submit_expense", expense)
    c.step("fay", "approve_expense", expense)
    response = c.step("fay", "approve_expense", expense)
    check("the second approval is someone else's (403)", response.status == 403, repr(response))

    # Foreign currencies: the rate valid on the expense date and the base amount freeze.
    expense = c.draft("ana", "10.00", currency="USD")
    response = c.step("ana", "submit_expense", expense)
    check("10.00 USD at 0.9 is 9.00 EUR",
          response.status == 200 and Decimal(str(response.body["base_amount"])) == Decimal("9.00")
          and Decimal(str(response.body["exchange_rate"])) == Decimal("0.9"), repr(response))
    expense_yen = c.draft("ana", "1500", currency="JPY")
    response = c.step("ana", "submit_expense", expense_yen)
    check("1500 JPY at 0.0062 is 9.30 EUR",
          response.status == 200 and Decimal(str(response.body["base_amount"])) == Decimal("9.30"), repr(response))
    with admin.cursor() as cursor:
        cursor.execute(f"UPDATE expense.exchange_rates SET rate = 2 WHERE currency = 'USD'")
    response = api.request("GET", "/expenses", "SELECT base_amount FROM api.expenses WHERE id = %s", (expense,),
                           token=tokens["ana"])
    check("a later rate change leaves the frozen amount alone", response.body == [(Decimal("9.00"),)], repr(response))
    response = c.step("ana", "submit_expense", c.draft("ana", "10.00", currency="GBP"))
    check("no rate for the date: 400 (22X36)", response.status == 400 and response.sqlstate == "22X36",
          repr(response))

    # Receipts, per-item and per-day limits, judged at submission.
    response = c.step("ana", "submit_expense", c.draft("ana", "30.00"))
    check("above 25.00 without a receipt: 400 (22X33)", response.status == 400 and response.sqlstate == "22X33",
          repr(response))
    response = c.step("ana", "submit_expense", c.draft("ana", "30.00", receipt="r-30"))
    check("with a receipt it passes", response.status == 200, repr(response))
    response = c.step("ana", "submit_expense", c.draft("ana", "500.01", category=MEALS, receipt="r"))
    check("above the per-item limit: 400 (22X34)", response.status == 400 and response.sqlstate == "22X34",
          repr(response))
    response = c.step("ana", "submit_expense", c.draft("ana", "500.00", category=MEALS, receipt="r"))
    check("at the per-item limit it passes", response.status == 200, repr(response))
    first = c.step("ana", "submit_expense", c.draft("ana", "20.00", category=TAXI, merchant="Cab one", days_ago=2))
    second = c.step("ana", "submit_expense", c.draft("ana", "20.00", category=TAXI, merchant="Cab two", days_ago=2,
                                                     receipt=None))
    response = c.step("ana", "submit_expense", c.draft("ana", "60.01", category=TAXI, merchant="Cab three",
                                                       days_ago=2, receipt="r"))
    check("past the per-day limit: 400 (22X35)",
          first.status == 200 and second.status == 200 and response.status == 400 and response.sqlstate == "22X35",
          repr(response))

    # Duplicates are held until the owner confirms.
    original = c.draft("ben", "42.00", merchant="Uber B.V.", receipt="r", days_ago=3)
    c.step("ben", "submit_expense", original)
    c.draft("ben", "42.00", merchant="Uber B.V.", receipt="r", days_ago=3)  # an unsubmitted draft claims nothing
    copy = c.draft("ben", "42.00", merchant="UBER b.v.", receipt="r", days_ago=3)
    response = c.step("ben", "submit_expense", copy)
    check("a likely duplicate is held: 409 naming the original",
          response.status == 409 and response.body["duplicate_of"] == original, repr(response))
    with admin.cursor() as cursor:
        cursor.execute("SELECT status, duplicate_of FROM expense.expenses WHERE expense_id = %s", (copy,))
        row = cursor.fetchone()
    check("it stays a draft, and the flag is committed", row == ("draft", original), repr(row))
    response = c.step("mia", "confirm_not_duplicate", copy)
    check("only its owner confirms it (403 for others, 404 if unseen)", response.status in (403, 404), repr(response))
    response = c.step("ben", "confirm_not_duplicate", copy)
    check("the owner confirms it is not a duplicate", response.status == 200, repr(response))
    response = c.step("ben", "submit_expense", copy)
    check("and it is submitted", response.status == 200 and response.body["status"] == "submitted", repr(response))
    # Case folding is Unicode's (ICU), not ASCII's: umlauts, accents, no-break and zero-width
    # spaces are all the same merchant.
    for spelled, respelled in (("Bäckerei Müller", "BÄCKEREI MÜLLER"), ("Café Zoë", "CAFÉ ZOË"),
                               ("Hotel Adlon", "Hotel\u00a0Ad\u200blon")):
        original = c.draft("ben", "17.00", merchant=spelled, days_ago=4)
        c.step("ben", "submit_expense", original)
        response = c.step("ben", "submit_expense", c.draft("ben", "17.00", merchant=respelled, days_ago=4))
        check(f"{respelled!r} is held as a duplicate of {spelled!r}",
              response.status == 409 and response.body["duplicate_of"] == original, repr(response))

    # A blank receipt reference is no receipt.
    response = c.step("ana", "submit_expense", c.draft("ana", "30.00", receipt="   "))
    check("a blank receipt_ref does not satisfy the receipt rule: 400 (22X33)",
          response.status == 400 and response.sqlstate == "22X33", repr(response))

    # Finance does not reimburse its own expenses.
    own = c.draft("fay", "12.00")
    c.step("fay", "submit_expense", own)
    c.step("ada", "approve_expense", own)
    response = c.step("fay", "reimburse_expense", own)
    check("finance cannot reimburse their own expense (403, 42501)",
          response.status == 403 and response.sqlstate == "42501", repr(response))

    # A rule, not visibility, refuses these writes: the rule's error, not 200 [].
    submitted = c.draft("ana", "11.00")
    c.step("ana", "submit_expense", submitted)
    response = api.request("DELETE", "/expenses", "DELETE FROM api.expenses WHERE id = %s RETURNING id",
                           (submitted,), token=tokens["ana"])
    check("deleting one's own submitted expense is 409 (PT409)",
          response.status == 409 and response.sqlstate == "PT409", repr(response))
    response = api.request("PATCH", "/expenses", "UPDATE api.expenses SET merchant = 'x' WHERE id = %s RETURNING id",
                           (submitted,), token=tokens["mia"])
    check("her manager editing it is 403 (42501): only the owner edits",
          response.status == 403 and response.sqlstate == "42501", repr(response))
    response = api.request("PATCH", "/expenses", "UPDATE api.expenses SET merchant = 'x' WHERE id = %s RETURNING id",
                           (submitted,), token=tokens["ben"])
    check("a colleague who cannot see it still gets 200 [] (nothing is disclosed)",
          response.status == 200 and response.body == [], repr(response))

    # The workflow columns are the workflow's: writing them directly is refused.
    with admin.cursor() as cursor:
        cursor.execute("SET ROLE expense_user")
        cursor.execute("SELECT set_config('request.jwt.claims', %s, false)",
                       ('{"sub": "%s"}' % USERS["ana"][0],))
        for column, value in (("status", "'approved'"), ("first_approved_by", "user_id"),
                              ("base_amount_minor", "1"), ("reimbursed_at", "now()")):
            try:
                cursor.execute(f"UPDATE expense.expenses SET {column} = {value} WHERE expense_id = %s", (submitted,))
                refused = False
            except psycopg2.Error as error:
                refused = error.pgcode == "42501"
            check(f"expense_user cannot UPDATE expense.expenses.{column} directly (42501)", refused)
        cursor.execute("RESET ROLE")
        cursor.execute("SELECT set_config('request.jwt.claims', '', false)")

    # The trail of one expense, with who did what.
    response = api.request("GET", "/expense_events",
                           "SELECT action, to_status, actor_id FROM expense.expense_events WHERE expense_id = %s"
                           " ORDER BY event_id", (expense,), token=tokens["ana"])
    check("transitions are in the audit trail with their actor",
          [row[:2] for row in response.body] == [("create", "draft"), ("transition", "submitted")]
          and response.body[-1][2] == USERS["ana"][0], repr(response))

    # The summary covers what the caller may see, in the base currency.
    summary = "SELECT category, expenses, total FROM api.expense_summary(current_date - 30, current_date) ORDER BY 1"
    finance = api.request("GET", "/rpc/expense_summary", summary, token=tokens["fay"])
    ben = api.request("GET", "/rpc/expense_summary", summary, token=tokens["ben"])
    check("finance's summary spans the organisation, Ben's only his own",
          finance.status == 200 and ben.status == 200 and sum(r[1] for r in finance.body) > sum(r[1] for r in ben.body)
          and all(isinstance(r[2], Decimal) for r in finance.body), f"{finance!r} {ben!r}")
    response = api.request("GET", "/rpc/expense_summary", "SELECT * FROM api.expense_summary(current_date, current_date - 1)",
                           token=tokens["fay"])
    check("a reversed period is 400", response.status == 400, repr(response))

    # A workflow function called with nonsense.
    response = c.step("ana", "submit_expense", "00000000-0000-0000-0000-00000000dead")
    check("an unknown id is 404", response.status == 404, repr(response))
    response = api.rpc("submit_expense", id=expense)
    check("anonymous callers may not submit (401)", response.status == 401, repr(response))

    api.close()
    admin.close()
    return finish()


if __name__ == "__main__":
    sys.exit(fixtures.api_suite("workflow", main))
