"""The support-ticket API through the PostgREST-shaped client: who may call each endpoint
(every application role and anonymous), a full support flow and an incident's tier actions,
the HTTP status of each rule violation, the actor of the event log, direct table access, and
bad input.

The lifecycles, clock states and reports themselves are covered by sql/tickets.sql; this suite
is about permissions and the HTTP contract.

Usage: tickets_test.py ADMIN_DSN AUTHENTICATOR_DSN
"""

import re
import sys
from datetime import datetime, timedelta

from expenses_test import start
from tap import check, finish

STAFF = ("sam", "ada")                      # support, admin
OTHERS = ("ana", "mia", "fay")              # employee, manager, finance
CUSTOMER = "customer@example.com"
PERIOD = ("now() - interval '1 day'", "now() + interval '1 day'")

BOARD = ("SELECT ticket_id, kind, priority, state, title, assignee, response_state::text,"
         " resolution_state::text, must_page FROM api.sla_board")
BACKLOG = "SELECT ticket_id, title, state, score FROM api.feature_backlog"
REPORT = f"SELECT * FROM api.sla_report({PERIOD[0]}, {PERIOD[1]})"
COUNTS = f"SELECT * FROM api.ticket_counts({PERIOD[0]}, {PERIOD[1]})"


def when(text):
    return datetime.fromisoformat(text)


class Tickets:
    """The ticket endpoints as PostgREST serves them."""

    def __init__(self, api, tokens):
        self.api = api
        self.tokens = tokens

    def rpc(self, who, name, **arguments):
        return self.api.rpc(name, token=self.tokens[who], **arguments)

    def open(self, who, kind="support", priority="P2", title="Cannot log in", **extra):
        return self.rpc(who, "open_ticket", kind=kind, priority=priority, title=title, **extra)

    def move(self, who, ticket, state, **extra):
        return self.rpc(who, "move_ticket", ticket_id=ticket, state=state, **extra)

    def sla(self, who, ticket):
        return self.rpc(who, "ticket_sla", ticket_id=ticket)

    def get(self, who, path, sql, params=()):
        return self.api.request("GET", path, sql, params, token=self.tokens[who])

    def report(self, who):
        return self.api.request("POST", "/rpc/sla_report", REPORT, token=self.tokens[who])

    def counts(self, who):
        return self.api.request("POST", "/rpc/ticket_counts", COUNTS, token=self.tokens[who])

    def board_row(self, who, ticket):
        response = self.get(who, "/sla_board", BOARD + " WHERE ticket_id = %s", (ticket,))
        return response, (response.body[0] if response.status == 200 and len(response.body) == 1 else None)


def query(admin, sql, params=()):
    with admin.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def ticket_row(admin, ticket):
    return query(admin, "SELECT state, priority, assignee, first_response_at, opened_at, satisfaction,"
                        " root_cause, postmortem_url, title FROM ops.tickets WHERE ticket_id = %s", (ticket,))[0]


def event_count(admin):
    return query(admin, "SELECT count(*) FROM ops.ticket_events")[0][0]


def is_sla(body, state=None):
    """The shape api.open_ticket and friends return: the ticket's SLA clocks."""
    return (isinstance(body, dict) and isinstance(body.get("ticket_id"), int)
            and {"response", "resolution", "must_page", "state", "priority", "kind"} <= body.keys()
            and (state is None or body["state"] == state)
            and body["response"].get("state") in ("met", "on_track", "at_risk", "breached", "paused")
            and body["resolution"].get("state") in ("met", "on_track", "at_risk", "breached", "paused"))


def permissions(t, admin):
    """Every endpoint for every application role and anonymous."""
    t.tokens["anonymous"] = None

    # Staff: each of the eight functions works, with the expected content.
    for who in STAFF:
        email = f"{who}@test"
        response = t.open(who, title=f"Invoice export fails ({who})", reporter=CUSTOMER, labels=["export"])
        check(f"{who}: POST /rpc/open_ticket opens a support ticket in New (200, SLA json)",
              response.status == 200 and is_sla(response.body, "New") and response.body["kind"] == "support"
              and response.body["priority"] == "P2" and response.body["response"]["state"] == "on_track"
              and response.body["resolution"]["state"] == "on_track" and response.body["must_page"] is False,
              repr(response))
        ticket = response.body["ticket_id"] if response.status == 200 else None
        response = t.move(who, ticket, "Open")
        check(f"{who}: POST /rpc/move_ticket moves it to Open, which is the first response",
              response.status == 200 and is_sla(response.body, "Open") and response.body["response"]["state"] == "met",
              repr(response))
        response = t.rpc(who, "set_ticket_priority", ticket_id=ticket, priority="P1")
        check(f"{who}: POST /rpc/set_ticket_priority makes it P1",
              response.status == 200 and is_sla(response.body) and response.body["priority"] == "P1", repr(response))
        response = t.rpc(who, "assign_ticket", ticket_id=ticket, assignee=email)
        check(f"{who}: POST /rpc/assign_ticket assigns it",
              response.status == 200 and is_sla(response.body) and ticket_row(admin, ticket)[2] == email,
              repr(response))
        response = t.rpc(who, "comment_ticket", ticket_id=ticket, body="Looking into it")
        check(f"{who}: POST /rpc/comment_ticket comments on it",
              response.status == 200 and is_sla(response.body)
              and query(admin, "SELECT count(*) FROM ops.ticket_events WHERE ticket_id = %s AND action = 'comment'"
                               " AND body = 'Looking into it'", (ticket,))[0][0] == 1, repr(response))
        response = t.sla(who, ticket)
        check(f"{who}: POST /rpc/ticket_sla reads its clocks",
              response.status == 200 and is_sla(response.body, "Open") and response.body["ticket_id"] == ticket
              and response.body["resolution"]["target"] == "24:00:00", repr(response))
        response = t.report(who)
        check(f"{who}: POST /rpc/sla_report answers one row per priority, counting the P1",
              response.status == 200 and [row[0] for row in response.body] == ["P0", "P1", "P2", "P3"]
              and response.body[1][1] >= 1, repr(response))
        response = t.counts(who)
        check(f"{who}: POST /rpc/ticket_counts counts support tickets in Open and a grand total",
              response.status == 200 and any(row[:2] == ("support", "Open") and row[2] >= 1 for row in response.body)
              and response.body[-1][:2] == ("all", "all") and response.body[-1][2] >= 1, repr(response))
        # api.sla_board reads ops.sla_board, whose ops.read_clock() expense_user may not
        # EXECUTE: "permission denied for function read_clock" (42501, 403) for everyone.
        response, row = t.board_row(who, ticket)
        check(f"{who}: GET /sla_board lists the ticket with its clocks (200)",
              row is not None and row[1:4] == ("support", "P1", "Open") and row[5] == email
              and row[6] == "met" and row[7] == "on_track", repr(response))
        # likewise api.feature_backlog calls ops.feature_score(), which expense_user may not
        # EXECUTE: 42501 (403) for everyone.
        feature = t.open(who, kind="feature", priority="P3", title=f"Dark mode ({who})").body
        response = t.get(who, "/feature_backlog", BACKLOG)
        check(f"{who}: GET /feature_backlog lists the open feature request (200)",
              response.status == 200 and isinstance(feature, dict)
              and any(row[0] == feature["ticket_id"] and row[2] == "Request" for row in response.body),
              repr(response))

    # A P0 pages on open.
    response = t.open("sam", kind="incident", priority="P0", title="Logins fail for everyone")
    check("a P0 incident opens in Investigating with must_page true and a 15 minute response target",
          response.status == 200 and is_sla(response.body, "Investigating") and response.body["must_page"] is True
          and response.body["response"]["target"] == "00:15:00", repr(response))
    p0 = response.body["ticket_id"] if response.status == 200 else None
    response, row = t.board_row("sam", p0)
    check("the board shows the P0 with must_page true", row is not None and row[8] is True, repr(response))

    # Everyone else: 403 (401 anonymous) for each function, nothing changes, no rows in the views.
    target = t.open("sam", title="Someone else's ticket", reporter=CUSTOMER).body["ticket_id"]
    before, events = ticket_row(admin, target), event_count(admin)
    for who in OTHERS + ("anonymous",):
        status = 401 if who == "anonymous" else 403
        calls = {
            "open_ticket": lambda: t.open(who, title="not allowed"),
            "move_ticket": lambda: t.move(who, target, "Open"),
            "set_ticket_priority": lambda: t.rpc(who, "set_ticket_priority", ticket_id=target, priority="P0"),
            "assign_ticket": lambda: t.rpc(who, "assign_ticket", ticket_id=target, assignee=f"{who}@test"),
            "comment_ticket": lambda: t.rpc(who, "comment_ticket", ticket_id=target, body="me too"),
            "ticket_sla": lambda: t.sla(who, target),
            "sla_report": lambda: t.report(who),
            "ticket_counts": lambda: t.counts(who),
        }
        for name, call in calls.items():
            response = call()
            check(f"{who}: POST /rpc/{name} is refused ({status}, 42501)",
                  response.status == status and response.sqlstate == "42501", repr(response))
        for path, sql in (("/sla_board", BOARD), ("/feature_backlog", BACKLOG)):
            response = t.get(who, path, sql)
            if who == "anonymous":
                # expense_anon is granted neither view.
                check(f"anonymous: GET {path} is 401", response.status == 401, repr(response))
            else:
                # 403 (permission denied for function read_clock / feature_score) instead.
                check(f"{who}: GET {path} is 200 with no rows",
                      response.status == 200 and response.body == [], repr(response))
    check("the refused calls changed nothing: the ticket and the event log are as before",
          ticket_row(admin, target) == before and event_count(admin) == events,
          f"{before!r} -> {ticket_row(admin, target)!r}")
    count = query(admin, "SELECT count(*) FROM ops.tickets WHERE title = 'not allowed'")[0][0]
    check("and opened no ticket", count == 0, repr(count))

    # A support user of another organisation is staff too; a token without a user row is not.
    response = t.sla("gus", target)
    check("an admin of another organisation is support staff (200)", response.status == 200, repr(response))
    with admin.cursor() as cursor:
        cursor.execute("UPDATE iam.users SET role = 'employee' WHERE email = 'ada@test'")
    response = t.sla("ada", target)
    check("a demoted admin is refused at once: the role is read from the user row, not the token (403)",
          response.status == 403, repr(response))
    with admin.cursor() as cursor:
        cursor.execute("UPDATE iam.users SET role = 'admin' WHERE email = 'ada@test'")
    return p0


def support_flow(t, admin):
    """A support P2 from New to Closed as the support user, with its pause."""
    response = t.open("sam", priority="P2", title="Receipts do not upload", reporter=CUSTOMER,
                      description="Upload spins forever")
    ticket = response.body["ticket_id"]
    response = t.move("sam", ticket, "Resolved")
    check("an illegal skip (New -> Resolved) is 400 with 22X53",
          response.status == 400 and response.sqlstate == "22X53", repr(response))
    check("its hint names the allowed next state (Open)",
          "Open" in (response.body["hint"] or "") and "allowed next states" in (response.body["hint"] or ""),
          repr(response))
    response = t.move("sam", ticket, "Opened")
    check("an unknown state is 400 with 22X52", response.status == 400 and response.sqlstate == "22X52",
          repr(response))
    response = t.move("sam", ticket, "Open")
    check("New -> Open", response.status == 200 and response.body["state"] == "Open", repr(response))
    response = t.move("sam", ticket, "Resolved")
    check("Open -> Resolved skips Waiting on customer: 400 (22X53), hint names Waiting on customer",
          response.status == 400 and response.sqlstate == "22X53"
          and "Waiting on customer" in (response.body["hint"] or ""), repr(response))
    response = t.move("sam", ticket, "Waiting on customer")
    check("Open -> Waiting on customer pauses the resolution clock",
          response.status == 200 and response.body["state"] == "Waiting on customer"
          and response.body["resolution"]["state"] == "paused" and response.body["resolution"]["due_at"] is None,
          repr(response))
    response, row = t.board_row("sam", ticket)
    check("the board shows the resolution clock paused",
          row is not None and row[3] == "Waiting on customer" and row[7] == "paused", repr(response))
    response = t.move("sam", ticket, "Open")
    check("Waiting on customer -> Open resumes it",
          response.status == 200 and response.body["state"] == "Open"
          and response.body["resolution"]["state"] == "on_track" and response.body["resolution"]["due_at"],
          repr(response))
    t.move("sam", ticket, "Waiting on customer")
    response = t.move("sam", ticket, "Resolved")
    check("Waiting on customer -> Resolved stops the resolution clock in time (met)",
          response.status == 200 and response.body["state"] == "Resolved"
          and response.body["resolution"]["state"] == "met", repr(response))
    response = t.move("sam", ticket, "Closed", satisfaction=6)
    check("closing with satisfaction 6 is 400 (23514) and leaves it Resolved",
          response.status == 400 and response.sqlstate == "23514" and ticket_row(admin, ticket)[0] == "Resolved",
          repr(response))
    response = t.move("sam", ticket, "Closed", satisfaction=0)
    check("so is satisfaction 0", response.status == 400, repr(response))
    response = t.move("sam", ticket, "Closed", satisfaction=5)
    check("Resolved -> Closed with satisfaction 5",
          response.status == 200 and response.body["state"] == "Closed" and ticket_row(admin, ticket)[5] == 5,
          repr(response))
    response = t.move("sam", ticket, "Open")
    check("Closed is final: 400 (22X53)", response.status == 400 and response.sqlstate == "22X53", repr(response))
    response = t.get("sam", "/sla_board", BOARD + " WHERE ticket_id = %s", (ticket,))
    check("a closed ticket leaves the board (200, no row)",
          response.status == 200 and response.body == [], repr(response))
    response = t.counts("sam")
    check("ticket_counts shows the closed support ticket and its satisfaction",
          response.status == 200 and any(row[:3] == ("support", "Closed", 1) and row[3] == 5 for row in response.body),
          repr(response))

    # The event log: every API action under the support user's email.
    rows = query(admin, "SELECT action, from_value, to_value, actor FROM ops.ticket_events"
                        " WHERE ticket_id = %s ORDER BY event_id", (ticket,))
    check("the event log records the open, each move, the pause and the resume",
          [row[0] for row in rows] == ["open", "status", "status", "pause", "status", "resume", "status", "pause",
                                       "status", "resume", "status", "edit"], repr(rows))
    check("with actor = the support user's email for every API action",
          rows and all(row[3] == "sam@test" for row in rows), repr(rows))
    check("and the reporter is the customer, not the actor", ticket_row(admin, ticket) is not None
          and query(admin, "SELECT reporter FROM ops.tickets WHERE ticket_id = %s", (ticket,))[0][0] == CUSTOMER)
    ada = t.open("ada", title="Opened by the admin").body["ticket_id"]
    rows = query(admin, "SELECT actor, (SELECT reporter FROM ops.tickets WHERE ticket_id = %s)"
                        " FROM ops.ticket_events WHERE ticket_id = %s", (ada, ada))
    check("the admin's actions are recorded as hers, and she is the default reporter",
          rows == [("ada@test", "ada@test")], repr(rows))


def incident_flow(t, admin, p0):
    """A P0 cannot close without its root cause and post-mortem link."""
    for state in ("Mitigated", "Root-caused", "Fixed", "Post-mortem done"):
        response = t.move("sam", p0, state)
        if response.status != 200:
            break
    check("the P0 walks to Post-mortem done; Fixed stopped the resolution clock",
          response.status == 200 and response.body["state"] == "Post-mortem done"
          and response.body["resolution"]["state"] == "met", repr(response))
    response = t.move("sam", p0, "Closed")
    check("closing the P0 without root cause or post-mortem is 400 (22X54)",
          response.status == 400 and response.sqlstate == "22X54", repr(response))
    check("the message names both missing tier actions",
          "missing: root_cause, postmortem_url" in (response.body["message"] or ""), repr(response))
    response = t.move("sam", p0, "Closed", root_cause="an expired certificate")
    check("with the root cause only, the message names the post-mortem link alone",
          response.status == 400 and response.sqlstate == "22X54"
          and (response.body["message"] or "").endswith("missing: postmortem_url"), repr(response))
    check("and the refused close stored nothing", ticket_row(admin, p0)[6] is None, repr(ticket_row(admin, p0)))
    response = t.move("sam", p0, "Closed", root_cause="an expired certificate", postmortem_url="ftp://wiki/pm-1")
    check("a post-mortem link that is not http(s) is 400 (23514)",
          response.status == 400 and response.sqlstate == "23514", repr(response))
    response = t.move("sam", p0, "Closed", root_cause="an expired certificate",
                      postmortem_url="https://wiki.example.com/pm-1")
    row = ticket_row(admin, p0)
    check("with both it closes",
          response.status == 200 and response.body["state"] == "Closed"
          and row[6:8] == ("an expired certificate", "https://wiki.example.com/pm-1"), repr(response))

    response = t.open("sam", kind="chore", priority="P2", title="x")
    check("an unknown kind is 400 (22X50) naming the valid kinds",
          response.status == 400 and response.sqlstate == "22X50" and "support" in response.body["message"],
          repr(response))
    response = t.open("sam", priority="P9", title="x")
    check("an unknown priority is 400 (22X51)", response.status == 400 and response.sqlstate == "22X51",
          repr(response))
    response = t.open("sam", priority="p1", title="x")
    check("priorities are case-sensitive: p1 is 400 (22X51)", response.status == 400 and response.sqlstate == "22X51",
          repr(response))


def clocks(t, admin):
    """The first response by comment, and a priority change restating the due times."""
    ticket = t.open("sam", priority="P3", title="Question about limits", reporter=CUSTOMER).body["ticket_id"]
    response = t.sla("sam", ticket)
    check("before any response the response clock runs (on_track)",
          response.status == 200 and response.body["response"]["state"] == "on_track", repr(response))
    response = t.rpc("sam", "comment_ticket", ticket_id=ticket, body="Hello, the limit is per day.")
    first = ticket_row(admin, ticket)[3]
    check("a staff comment is the first response: first_response_at is set",
          response.status == 200 and first is not None, repr(first))
    response = t.sla("sam", ticket)
    check("and api.ticket_sla reports the response clock met",
          response.status == 200 and response.body["response"]["state"] == "met", repr(response))
    t.rpc("ada", "comment_ticket", ticket_id=ticket, body="Second answer")
    check("a later comment does not move first_response_at", ticket_row(admin, ticket)[3] == first)

    own = t.open("sam", priority="P3", title="Reported by the support user").body["ticket_id"]
    response = t.rpc("sam", "comment_ticket", ticket_id=own, body="a note to myself")
    check("the reporter's own comment is no response: the clock still runs",
          response.status == 200 and response.body["response"]["state"] == "on_track"
          and ticket_row(admin, own)[3] is None, repr(response))

    ticket = t.open("sam", priority="P2", title="Priority will change", reporter=CUSTOMER).body["ticket_id"]
    opened = ticket_row(admin, ticket)[4]
    before = t.sla("sam", ticket).body
    check("a P2 on 24x7 is due 24 h (response) and 7 days (resolution) after opening",
          when(before["response"]["due_at"]) == opened + timedelta(hours=24)
          and when(before["resolution"]["due_at"]) == opened + timedelta(days=7), repr(before))
    response = t.rpc("sam", "set_ticket_priority", ticket_id=ticket, priority="P0")
    check("raised to P0 it is due 15 min and 4 h after opening, and it is P0",
          response.status == 200 and response.body["priority"] == "P0"
          and when(response.body["response"]["due_at"]) == opened + timedelta(minutes=15)
          and when(response.body["resolution"]["due_at"]) == opened + timedelta(hours=4), repr(response))
    response = t.rpc("sam", "set_ticket_priority", ticket_id=ticket, priority="P4")
    check("set_ticket_priority with P4 is 400 (22X51) and keeps P0",
          response.status == 400 and response.sqlstate == "22X51" and ticket_row(admin, ticket)[1] == "P0",
          repr(response))
    rows = query(admin, "SELECT from_value, to_value, actor FROM ops.ticket_events"
                        " WHERE ticket_id = %s AND action = 'priority'", (ticket,))
    check("the priority change is in the event log with its actor", rows == [("P2", "P0", "sam@test")], repr(rows))
    response = t.rpc("sam", "assign_ticket", ticket_id=ticket, assignee="   ")
    check("assigning to blanks unassigns", response.status == 200 and ticket_row(admin, ticket)[2] is None,
          repr(response))


def direct_access(t):
    """expense_user reaches tickets only through the API, even with staff claims."""
    statements = {
        "ops.tickets": ("SELECT * FROM ops.tickets",
                        "INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('support', 'P2', 'x', 'y')",
                        "UPDATE ops.tickets SET title = 'hacked'"),
        "ops.ticket_events": ("SELECT * FROM ops.ticket_events",
                              "INSERT INTO ops.ticket_events (ticket_id, actor, action) VALUES (1, 'x', 'comment')",
                              "UPDATE ops.ticket_events SET actor = 'nobody'"),
        "ops.sla_transitions": ("SELECT * FROM ops.sla_transitions",
                                "INSERT INTO ops.sla_transitions (ticket_id, clock, state, at)"
                                " VALUES (1, 'response', 'breached', now())",
                                "UPDATE ops.sla_transitions SET at = now()"),
    }
    for who in ("sam", "ada", "ana"):
        for table, (select, insert, update) in statements.items():
            for verb, sql in (("SELECT", select), ("INSERT", insert), ("UPDATE", update)):
                response = t.api.request("GET" if verb == "SELECT" else "POST", "/" + table.split(".")[1], sql,
                                         token=t.tokens[who])
                check(f"{who}: {verb} on {table} directly is 403 (42501, no privilege on the schema or table)",
                      response.status == 403 and response.sqlstate == "42501"
                      and re.match(r"permission denied for (schema ops|table)", response.body["message"] or ""),
                      repr(response))
    for sql in ("SELECT ops.refresh_sla_transitions()", "SELECT ops.ticket_sla(1)",
                "SELECT ops.read_clock('24x7', now(), '1 hour', NULL, '{}', 0.75, now())"):
        response = t.api.request("POST", "/rpc/x", sql, token=t.tokens["sam"])
        check(f"sam: {sql.split('(')[0][7:]}() is not callable through the API (403)",
              response.status == 403, repr(response))


def bad_input(t, admin):
    title = "'); DROP TABLE ops.tickets; -- \\ % _ $$ \" ; SELECT 1"
    response = t.open("sam", title=title, reporter=CUSTOMER, labels=["a'b", "c\"d"],
                      description="E'\\x00' /* */ %s %(x)s")
    check("SQL metacharacters in title, description and labels are accepted (200)",
          response.status == 200, repr(response))
    ticket = response.body["ticket_id"] if response.status == 200 else None
    rows = query(admin, "SELECT title, description, labels FROM ops.tickets WHERE ticket_id = %s", (ticket,))
    check("and stored verbatim", rows == [(title, "E'\\x00' /* */ %s %(x)s", ["a'b", 'c"d'])], repr(rows))
    body = "Robert'); DELETE FROM ops.ticket_events; --\n\ttabs, ünïcödé ✓, 'quotes' and \"doubles\""
    response = t.rpc("sam", "comment_ticket", ticket_id=ticket, body=body)
    rows = query(admin, "SELECT body FROM ops.ticket_events WHERE ticket_id = %s AND action = 'comment'", (ticket,))
    check("a comment with SQL metacharacters is stored verbatim", response.status == 200 and rows == [(body,)],
          repr(rows))
    count = query(admin, "SELECT count(*) FROM ops.ticket_events")[0][0]
    check("and nothing was deleted", count > 10, repr(count))

    cases = [
        ("open_ticket with a NULL kind", dict(kind=None, priority="P2", title="x"), "open_ticket", 400, "22004"),
        ("open_ticket with a NULL priority", dict(kind="support", priority=None, title="x"), "open_ticket", 400,
         "22004"),
        ("open_ticket with a NULL title", dict(kind="support", priority="P2", title=None), "open_ticket", 400, None),
        ("open_ticket with a blank title", dict(kind="support", priority="P2", title="   "), "open_ticket", 400,
         "23514"),
        ("open_ticket with a 201-character title", dict(kind="support", priority="P2", title="x" * 201),
         "open_ticket", 400, "23514"),
        ("open_ticket with a 20001-character description",
         dict(kind="support", priority="P2", title="x", description="d" * 20001), "open_ticket", 400, "23514"),
        ("move_ticket with a NULL state", dict(ticket_id=ticket, state=None), "move_ticket", 400, "22004"),
        ("move_ticket of a NULL ticket", dict(ticket_id=None, state="Open"), "move_ticket", 404, "PT404"),
        ("move_ticket of an unknown ticket", dict(ticket_id=987654321, state="Open"), "move_ticket", 404, "PT404"),
        ("ticket_sla of an unknown ticket", dict(ticket_id=987654321), "ticket_sla", 404, "PT404"),
        ("comment_ticket with a NULL body", dict(ticket_id=ticket, body=None), "comment_ticket", 400, "22004"),
        ("comment_ticket with a blank body", dict(ticket_id=ticket, body="   "), "comment_ticket", 400, "22004"),
        ("set_ticket_priority to NULL", dict(ticket_id=ticket, priority=None), "set_ticket_priority", 400, None),
        ("a ticket id that is not a number", dict(ticket_id="1; DROP TABLE ops.tickets"), "ticket_sla", 400, "22P02"),
        ("a satisfaction that is not a number", dict(ticket_id=ticket, state="Open", satisfaction="five"),
         "move_ticket", 400, "22P02"),
        # PostgREST casts each JSON argument to the parameter's type: out of range for integer.
        ("a huge satisfaction", dict(ticket_id=ticket, state="Open", satisfaction=str(10 ** 12)), "move_ticket", 400,
         "22003"),
    ]
    for name, arguments, function, status, sqlstate in cases:
        response = t.rpc("sam", function, **arguments)
        check(f"{name} is {status}" + (f" ({sqlstate})" if sqlstate else ""),
              response.status == status and (sqlstate is None or response.sqlstate == sqlstate), repr(response))
    # Whitespace of any kind is no comment (it would otherwise count as the first response).
    response = t.rpc("sam", "comment_ticket", ticket_id=ticket, body=" \n\t ")
    check("comment_ticket with a body of only whitespace (newline, tab) is 400 (22004)",
          response.status == 400 and response.sqlstate == "22004", repr(response))
    check("the ticket is unchanged by the bad calls", ticket_row(admin, ticket)[0:3] == ("New", "P2", None),
          repr(ticket_row(admin, ticket)))
    response = t.api.request("POST", "/rpc/sla_report", "SELECT * FROM api.sla_report(now(), now() - interval '1 day')",
                             token=t.tokens["sam"])
    check("a reversed report period is 400 (22023)", response.status == 400 and response.sqlstate == "22023",
          repr(response))
    response = t.api.request("POST", "/rpc/sla_report", "SELECT * FROM api.sla_report(NULL, now())",
                             token=t.tokens["sam"])
    check("a NULL report period is 400 (22023)", response.status == 400 and response.sqlstate == "22023",
          repr(response))
    response = t.api.rpc("ticket_sla", token=t.tokens["sam"][:-4] + "AAAA", ticket_id=ticket)
    check("a token with a bad signature is 401 before the database", response.status == 401, repr(response))
    # The client passes arguments as bound SQL parameters and has no JSON request body, so a
    # malformed JSON body (PostgREST: 400 PGRST102 before any SQL) cannot be sent through it.


def main(admin_dsn, authenticator_dsn):
    admin, api, tokens = start(admin_dsn, authenticator_dsn)
    t = Tickets(api, tokens)
    p0 = permissions(t, admin)
    support_flow(t, admin)
    incident_flow(t, admin, p0)
    clocks(t, admin)
    direct_access(t)
    bad_input(t, admin)
    api.close()
    admin.close()
    return finish("tickets")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
