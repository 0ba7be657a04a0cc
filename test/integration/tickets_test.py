#!/usr/bin/python3
"""The support-ticket API through the PostgREST-shaped client, with its tenant boundary
(extension 0.4.0): two tenant organisations (Acme, Globex) and the operator's staff.

  * staff marking: only expense_ops_admin marks staff (iam.set_staff), read from the user row;
  * open_ticket: what tenants may open (support and bug reports, for their own organisation,
    as themselves) and what staff may open (anything, for any organisation or internal);
  * the matrix: every caller class (staff sue and oli, Acme's admin ada, Acme's support-role
    user sam, Acme's employee ana, Globex's admin gus, Globex's employee gil, anonymous) against
    an Acme ticket, a Globex ticket and an internal ticket, over move_ticket,
    set_ticket_priority, assign_ticket, comment_ticket (public and internal) and ticket_sla;
    every refusal with its status and SQLSTATE, and changing nothing;
  * triage: a tenant's priority is a request, a P0 runs as P1 and pages nobody until staff
    triage it;
  * the first response: staff's first public comment (not the reporter's, not an internal
    one, never a tenant's);
  * the views (api.tickets, api.sla_board, api.feature_backlog, api.ticket_events): exactly
    the rows each caller may see, never internal tickets or internal comments for tenants;
  * reports scoped: staff all organisations, a tenant admin their own, others 403;
  * the limits (22001) and the same-state move (22X53);
  * as before, run by staff: a support flow, an incident's tier actions, the clocks, direct
    table access and bad input.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import re
import sys
from datetime import datetime, timedelta

import psycopg2

import fixtures
from fixtures import (ACME, GLOBEX, OPERATOR, ORG_NAMES, STAFF, TENANTS, email, query, start_with_staff,
                      user_id)
from tap import check, diag, finish

CUSTOMER = "customer@example.com"
PERIOD = ("now() - interval '1 day'", "now() + interval '1 day'")
CALLERS = ("sue", "ada", "sam", "ana", "gus", "gil", "anonymous", "oli")
TENANT_ACTIONS = {"open", "status", "priority", "triage", "comment", "pause", "resume"}
# The next state of a support ticket in the matrix, so that a refusal is never the lifecycle's.
NEXT = {"New": "Open", "Open": "Waiting on customer", "Waiting on customer": "Open"}

BOARD = ("SELECT ticket_id, kind, priority, state, title, assignee, response_state::text,"
         " resolution_state::text, must_page, org_id FROM api.sla_board")
BACKLOG = "SELECT ticket_id, title, state, score, org_id FROM api.feature_backlog"
TICKETS = ("SELECT id, org_id, kind, priority, requested_priority, triaged_at, state, reporter, must_page,"
           " first_response_at FROM api.tickets")
EVENTS = "SELECT event_id, ticket_id, action, body, visibility, actor FROM api.ticket_events"
REPORT = f"SELECT * FROM api.sla_report({PERIOD[0]}, {PERIOD[1]})"
COUNTS = f"SELECT * FROM api.ticket_counts({PERIOD[0]}, {PERIOD[1]})"
VIEWS = {"/tickets": TICKETS, "/sla_board": BOARD, "/feature_backlog": BACKLOG, "/ticket_events": EVENTS}


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

    def priority(self, who, ticket, priority):
        return self.rpc(who, "set_ticket_priority", ticket_id=ticket, priority=priority)

    def assign(self, who, ticket, assignee):
        return self.rpc(who, "assign_ticket", ticket_id=ticket, assignee=assignee)

    def comment(self, who, ticket, body, visibility=None):
        if visibility is None:
            return self.rpc(who, "comment_ticket", ticket_id=ticket, body=body)
        return self.rpc(who, "comment_ticket", ticket_id=ticket, body=body, visibility=visibility)

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


def ticket_row(admin, ticket):
    return query(admin, "SELECT state, priority, assignee, first_response_at, opened_at, satisfaction,"
                        " root_cause, postmortem_url, title, org_id::text, requested_priority, triaged_at,"
                        " must_page, reporter, workaround FROM ops.tickets WHERE ticket_id = %s", (ticket,))[0]


def event_count(admin):
    return query(admin, "SELECT count(*) FROM ops.ticket_events")[0][0]


def snapshot(admin):
    """Every ticket row (all columns), the number of tickets and of events: what a refused call
    must leave as it was."""
    return query(admin, "SELECT (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.ticket_id), ''))"
                        " FROM ops.tickets t), (SELECT count(*) FROM ops.tickets), (SELECT count(*) FROM"
                        " ops.ticket_events), (SELECT coalesce(max(event_id), 0) FROM ops.ticket_events)")[0]


def events_of(admin, ticket, action=None):
    rows = query(admin, "SELECT action, from_value, to_value, actor, body, visibility FROM ops.ticket_events"
                        " WHERE ticket_id = %s ORDER BY event_id", (ticket,))
    return [row for row in rows if action is None or row[0] == action]


def is_sla(body, state=None):
    """The shape api.open_ticket and friends return: the ticket's SLA clocks."""
    return (isinstance(body, dict) and isinstance(body.get("ticket_id"), int)
            and {"response", "resolution", "must_page", "state", "priority", "kind"} <= body.keys()
            and (state is None or body["state"] == state)
            and body["response"].get("state") in ("met", "on_track", "at_risk", "breached", "paused")
            and body["resolution"].get("state") in ("met", "on_track", "at_risk", "breached", "paused"))


def refused(admin, name, call, status, sqlstate):
    """A call that must fail with this status and SQLSTATE, and change no ticket and no event."""
    before = snapshot(admin)
    response = call()
    after = snapshot(admin)
    check(f"{name} -> {status} ({sqlstate}), nothing changed",
          response.status == status and response.sqlstate == sqlstate and before == after,
          f"{response!r}; tickets/events " + (f"changed: {before!r} -> {after!r}" if before != after else "unchanged"))
    return response


def denial(who):
    """The refusal of a function a caller may not call: 403, or 401 anonymous (42501)."""
    return (401 if who == "anonymous" else 403), "42501"


def sees(who, org):
    """Whether a caller may see a ticket of this organisation (None: internal)."""
    return who in STAFF or (who in TENANTS and org is not None and TENANTS[who] == org)


def expected_ids(admin, who, sql):
    """The ids the rule gives a caller, from the superuser: staff all, a tenant their org's."""
    if who in STAFF:
        return {row[0] for row in query(admin, sql.format(scope="true"))}
    return {row[0] for row in query(admin, sql.format(scope="t.org_id = %s"), (TENANTS[who],))}


def staff_marking(t, admin):
    """Staff are marked by expense_ops_admin alone, and a tenant admin is not staff."""
    rows = dict(query(admin, "SELECT email, is_staff FROM iam.users"))
    check("iam.set_staff marked sue and oli as staff, and no tenant user (not ada, not sam)",
          rows.get("sue@test") is True and rows.get("oli@test") is True
          and not any(rows.get(email(who)) for who in TENANTS), repr(rows))
    for who in ("ada", "sue"):
        refused(admin, f"{who}: SELECT iam.set_staff(ana) through the API",
                lambda: t.api.request("POST", "/rpc/set_staff", "SELECT iam.set_staff(%s, true)",
                                      (user_id("ana"),), token=t.tokens[who]), 403, "42501")
    refused(admin, "ada: UPDATE iam.users SET is_staff = true on herself",
            lambda: t.api.request("PATCH", "/users", "UPDATE iam.users SET is_staff = true WHERE email = 'ada@test'",
                                  token=t.tokens["ada"]), 403, "42501")
    rows = dict(query(admin, "SELECT email, is_staff FROM iam.users WHERE email IN ('ana@test', 'ada@test')"))
    check("and neither ana nor ada became staff", rows == {"ana@test": False, "ada@test": False}, repr(rows))
    with admin.cursor() as cursor:
        try:
            cursor.execute("SELECT iam.set_staff('00000000-0000-0000-0000-00000000ffff', true)")
            code = None
        except psycopg2.Error as error:
            code = error.pgcode
    check("iam.set_staff of an unknown user is PT404", code == "PT404", repr(code))


def open_targets(t, admin):
    """Staff open the matrix's targets: a support ticket and a feature request for Acme, for
    Globex and for the operator itself (internal, no org_id)."""
    targets, features = {}, {}
    for org in (ACME, GLOBEX, None):
        name = ORG_NAMES[org]
        response = t.open("sue", title=f"Export broken ({name})", reporter=CUSTOMER, org_id=org)
        row = ticket_row(admin, response.body["ticket_id"]) if response.status == 200 else None
        check(f"sue (staff) opens a support ticket for {name} (200, New, org_id {org})",
              response.status == 200 and is_sla(response.body, "New") and row[9] == org and row[10] is None
              and row[13] == CUSTOMER, f"{response!r} {row!r}")
        targets[name] = (response.body["ticket_id"] if response.status == 200 else None, org)
        response = t.open("oli", kind="feature", priority="P3", title=f"Dark mode ({name})", org_id=org)
        row = ticket_row(admin, response.body["ticket_id"]) if response.status == 200 else None
        check(f"oli (staff, app role employee) opens a feature request for {name} (200, Request)",
              response.status == 200 and is_sla(response.body, "Request") and row[9] == org,
              f"{response!r} {row!r}")
        features[name] = (response.body["ticket_id"] if response.status == 200 else None, org)
    return targets, features


def opening(t, admin):
    """api.open_ticket for every caller class."""
    others = {ACME: GLOBEX, GLOBEX: ACME}
    for who, org in TENANTS.items():
        response = t.open(who, title=f"Receipts vanish ({who})", description="since Monday")
        row = ticket_row(admin, response.body["ticket_id"]) if response.status == 200 else None
        check(f"{who} (tenant): opens a support ticket (200, New) for {ORG_NAMES[org]}, reporter themselves,"
              " P2 requested and run",
              response.status == 200 and is_sla(response.body, "New") and response.body["must_page"] is False
              and row[9] == org and row[13] == email(who) and row[10] == "P2" and row[1] == "P2"
              and row[11] is None, f"{response!r} {row!r}")
        response = t.open(who, kind="bug", priority="P3", title=f"Totals off by a cent ({who})", org_id=org,
                          reporter=email(who), labels=["totals"], affected_release="4.2")
        row = ticket_row(admin, response.body["ticket_id"]) if response.status == 200 else None
        check(f"{who}: opens a bug report naming their own org_id and themselves as reporter (200, Reported)",
              response.status == 200 and is_sla(response.body, "Reported") and row[9] == org
              and row[13] == email(who) and row[10] == "P3", f"{response!r} {row!r}")
        for kind in ("incident", "feature", "security"):
            refused(admin, f"{who}: open_ticket of kind {kind}",
                    lambda: t.open(who, kind=kind, priority="P2", title=f"{kind} by {who}"), 403, "42501")
        refused(admin, f"{who}: open_ticket for {ORG_NAMES[others[org]]}",
                lambda: t.open(who, title="for the neighbours", org_id=others[org]), 403, "42501")
        refused(admin, f"{who}: open_ticket for the Operator organisation",
                lambda: t.open(who, title="for the operator", org_id=OPERATOR), 403, "42501")
        refused(admin, f"{who}: open_ticket with a customer as reporter",
                lambda: t.open(who, title="on behalf", reporter=CUSTOMER), 403, "42501")
        refused(admin, f"{who}: open_ticket with a colleague as reporter",
                lambda: t.open(who, title="on behalf", reporter="ben@test"), 403, "42501")
        refused(admin, f"{who}: open_ticket of an unknown kind",
                lambda: t.open(who, kind="chore", title="x"), 400, "22X50")
        refused(admin, f"{who}: open_ticket with an unknown priority",
                lambda: t.open(who, priority="P9", title="x"), 400, "22X51")
    refused(admin, "anonymous: open_ticket",
            lambda: t.open("anonymous", title="let me in"), 401, "42501")

    for who in STAFF:
        for kind, state in (("incident", "Investigating"), ("bug", "Reported"), ("feature", "Request"),
                            ("support", "New"), ("security", "Identify")):
            for org in (ACME, GLOBEX, None):
                response = t.open(who, kind=kind, priority="P3", title=f"{kind} by {who} ({ORG_NAMES[org]})",
                                  org_id=org)
                row = ticket_row(admin, response.body["ticket_id"]) if response.status == 200 else None
                check(f"{who} (staff): opens a {kind} for {ORG_NAMES[org]} (200, {state}), no requested priority",
                      response.status == 200 and is_sla(response.body, state) and row[9] == org
                      and row[10] is None and row[13] == email(who), f"{response!r} {row!r}")
    response = t.open("sue", kind="incident", priority="P0", title="Globex cannot log in", org_id=GLOBEX)
    check("a P0 incident opened by staff pages at once (must_page true, 15 minute response target)",
          response.status == 200 and response.body["must_page"] is True and response.body["priority"] == "P0"
          and response.body["response"]["target"] == "00:15:00", repr(response))
    refused(admin, "sue: open_ticket of an unknown kind", lambda: t.open("sue", kind="chore", title="x"), 400, "22X50")
    refused(admin, "sue: open_ticket with an unknown priority", lambda: t.open("sue", priority="P9", title="x"),
            400, "22X51")


def matrix(t, admin, targets):
    """move, set priority, assign, comment (public and internal) and ticket_sla for every caller
    against the Acme, the Globex and the internal ticket. Returns the internal comments' bodies."""
    internal_bodies = []
    for who in CALLERS:
        for name, (ticket, org) in targets.items():
            row = ticket_row(admin, ticket)
            state, priority = row[0], row[1]
            label = f"{who} on the {name} ticket"
            status, code = denial(who)

            if who in STAFF:
                response = t.move(who, ticket, NEXT[state])
                check(f"{label}: move_ticket {state} -> {NEXT[state]} (200)",
                      response.status == 200 and is_sla(response.body, NEXT[state])
                      and ticket_row(admin, ticket)[0] == NEXT[state], repr(response))
                new = "P3" if priority != "P3" else "P2"
                response = t.priority(who, ticket, new)
                check(f"{label}: set_ticket_priority {priority} -> {new} (200)",
                      response.status == 200 and response.body["priority"] == new
                      and ticket_row(admin, ticket)[1] == new, repr(response))
                response = t.assign(who, ticket, email(who))
                check(f"{label}: assign_ticket to themselves (200)",
                      response.status == 200 and is_sla(response.body) and ticket_row(admin, ticket)[2] == email(who),
                      repr(response))
            else:
                refused(admin, f"{label}: move_ticket {state} -> {NEXT[state]}",
                        lambda: t.move(who, ticket, NEXT[state]), status, code)
                refused(admin, f"{label}: set_ticket_priority P0",
                        lambda: t.priority(who, ticket, "P0"), status, code)
                refused(admin, f"{label}: assign_ticket to themselves",
                        lambda: t.assign(who, ticket, email(who)), status, code)

            body = f"{who} on {name}: public"
            if sees(who, org):
                response = t.comment(who, ticket, body)
                rows = query(admin, "SELECT actor, visibility FROM ops.ticket_events WHERE ticket_id = %s"
                                    " AND action = 'comment' AND body = %s", (ticket, body))
                check(f"{label}: comment_ticket, public (200), recorded as theirs",
                      response.status == 200 and is_sla(response.body) and rows == [(email(who), "public")],
                      f"{response!r} {rows!r}")
            elif who == "anonymous":
                refused(admin, f"{label}: comment_ticket", lambda: t.comment(who, ticket, body), status, code)
            else:
                refused(admin, f"{label}: comment_ticket (not theirs: as if missing)",
                        lambda: t.comment(who, ticket, body), 404, "PT404")

            body = f"{who} on {name}: internal note"
            if who in STAFF:
                response = t.comment(who, ticket, body, "internal")
                rows = query(admin, "SELECT actor, visibility FROM ops.ticket_events WHERE ticket_id = %s"
                                    " AND action = 'comment' AND body = %s", (ticket, body))
                check(f"{label}: comment_ticket, internal (200), recorded as internal",
                      response.status == 200 and is_sla(response.body) and rows == [(email(who), "internal")],
                      f"{response!r} {rows!r}")
                internal_bodies.append(body)
            elif who == "anonymous":
                refused(admin, f"{label}: comment_ticket internal",
                        lambda: t.comment(who, ticket, body, "internal"), status, code)
            elif sees(who, org):
                refused(admin, f"{label}: comment_ticket internal (staff only)",
                        lambda: t.comment(who, ticket, body, "internal"), 403, "42501")
            else:
                refused(admin, f"{label}: comment_ticket internal (not theirs: as if missing)",
                        lambda: t.comment(who, ticket, body, "internal"), 404, "PT404")

            if sees(who, org):
                response = t.sla(who, ticket)
                check(f"{label}: ticket_sla (200, its clocks)",
                      response.status == 200 and is_sla(response.body) and response.body["ticket_id"] == ticket,
                      repr(response))
            elif who == "anonymous":
                refused(admin, f"{label}: ticket_sla", lambda: t.sla(who, ticket), status, code)
            else:
                response = refused(admin, f"{label}: ticket_sla (not theirs: as if missing)",
                                   lambda: t.sla(who, ticket), 404, "PT404")
                missing = t.sla(who, 987654321)
                check(f"{label}: ticket_sla answers exactly as for a missing ticket (same status and hint)",
                      (missing.status, missing.sqlstate, missing.body.get("hint")) ==
                      (response.status, response.sqlstate, response.body.get("hint")),
                      f"{response!r} vs {missing!r}")

    # The Acme ticket resumes with a workaround: a resume (public) and an edit (internal).
    ticket = targets["Acme"][0]
    response = t.move("sue", ticket, "Open", workaround="Export as CSV instead")
    check("sue: the Acme ticket moves back to Open with a workaround (a resume and an internal edit)",
          response.status == 200 and response.body["state"] == "Open"
          and [row[0] for row in events_of(admin, ticket)][-3:] == ["status", "resume", "edit"]
          and events_of(admin, ticket, "edit")[-1][5] == "internal", f"{response!r} {events_of(admin, ticket)!r}")
    return internal_bodies


def triage(t, admin):
    """A tenant's priority is a request: a P0 runs as P1 and pages nobody until staff triage it."""
    response = t.open("ana", priority="P0", title="Nobody in Acme can submit")
    ticket = response.body["ticket_id"] if response.status == 200 else None
    check("ana requests P0: the ticket runs as P1 (2 h response target) with must_page false",
          response.status == 200 and response.body["priority"] == "P1" and response.body["must_page"] is False
          and response.body["response"]["target"] == "02:00:00", repr(response))
    row = ticket_row(admin, ticket)
    check("the row stores requested_priority P0, priority P1, no triage, must_page false",
          row[1] == "P1" and row[10] == "P0" and row[11] is None and row[12] is False, repr(row))
    response = t.get("ana", "/tickets", TICKETS + " WHERE id = %s", (ticket,))
    check("ana reads it on GET /tickets: P1 requested as P0, untriaged, not paging",
          response.status == 200 and len(response.body) == 1
          and response.body[0][3:6] == ("P1", "P0", None) and response.body[0][8] is False, repr(response))
    response, board = t.board_row("sue", ticket)
    check("the board shows it at P1 with must_page false", board is not None and board[2] == "P1"
          and board[8] is False, repr(response))

    # Triage at the priority it already runs at: still triage.
    response = t.priority("sue", ticket, "P1")
    row = ticket_row(admin, ticket)
    triaged = row[11]
    check("sue sets it to P1, the priority it runs at: that is its triage (triaged_at set), still not paging",
          response.status == 200 and response.body["priority"] == "P1" and response.body["must_page"] is False
          and triaged is not None, f"{response!r} {row!r}")
    rows = events_of(admin, ticket, "triage")
    check("an event 'triage' is logged (P0 requested -> P1) by sue, and no priority change",
          [row[1:4] for row in rows] == [("P0", "P1", "sue@test")] and events_of(admin, ticket, "priority") == [],
          repr(events_of(admin, ticket)))
    response = t.priority("sue", ticket, "P0")
    row = ticket_row(admin, ticket)
    check("raised to P0 after triage it pages: must_page true (response and row)",
          response.status == 200 and response.body["must_page"] is True and row[12] is True and row[1] == "P0",
          f"{response!r} {row!r}")
    check("the triage is not repeated: one triage event, triaged_at unchanged, one priority event P1 -> P0",
          len(events_of(admin, ticket, "triage")) == 1 and row[11] == triaged
          and [e[1:3] for e in events_of(admin, ticket, "priority")] == [("P1", "P0")],
          repr(events_of(admin, ticket)))
    response, board = t.board_row("ana", ticket)
    check("ana's board shows the triaged P0 with must_page true", board is not None and board[2] == "P0"
          and board[8] is True, repr(response))
    response = t.get("ana", "/ticket_events", EVENTS + " WHERE ticket_id = %s ORDER BY event_id", (ticket,))
    check("ana sees the triage and the priority change on GET /ticket_events",
          response.status == 200 and [row[2] for row in response.body] == ["open", "triage", "priority"],
          repr(response))

    # Triage straight to P0.
    response = t.open("gil", priority="P0", title="Globex payroll export down")
    other = response.body["ticket_id"] if response.status == 200 else None
    check("gil (Globex employee) requests P0: runs as P1, must_page false",
          response.status == 200 and response.body["priority"] == "P1" and response.body["must_page"] is False,
          repr(response))
    response = t.priority("oli", other, "P0")
    row = ticket_row(admin, other)
    check("oli triages it to P0: must_page true, 15 minute response target, triaged_at set",
          response.status == 200 and response.body["must_page"] is True
          and response.body["response"]["target"] == "00:15:00" and row[11] is not None, f"{response!r} {row!r}")
    check("with an event 'triage' P0 -> P0 by oli",
          [e[1:4] for e in events_of(admin, other, "triage")] == [("P0", "P0", "oli@test")],
          repr(events_of(admin, other)))

    # A tenant's P2 request runs at P2; staff's priority changes on staff tickets are no triage.
    response = t.open("ada", priority="P2", title="Acme wants a CSV export")
    row = ticket_row(admin, response.body["ticket_id"]) if response.status == 200 else None
    check("ada requests P2: runs at P2, requested P2, untriaged",
          response.status == 200 and row[1] == "P2" and row[10] == "P2" and row[11] is None, repr(row))
    # Where P1 pages too (the operator's policy), an untriaged tenant P1 still pages nobody.
    untriaged = t.open("ben", priority="P1", title="Approvals stuck").body["ticket_id"]
    staff_p1 = t.open("sue", priority="P1", title="Approvals stuck (staff)", org_id=ACME).body["ticket_id"]
    with admin.cursor() as cursor:
        cursor.execute("UPDATE ops.sla_policies SET pages_on_open = true WHERE priority = 'P1'")
    try:
        mine, staffs = t.sla("ben", untriaged), t.sla("sue", staff_p1)
        check("with a paging P1 policy, staff's P1 pages but ben's untriaged P1 request does not",
              mine.status == 200 and staffs.status == 200 and staffs.body["must_page"] is True
              and mine.body["must_page"] is False and ticket_row(admin, untriaged)[12] is False,
              f"{mine!r} {staffs!r}")
        response = t.priority("sue", untriaged, "P1")
        check("once sue triages it (P1 confirmed) it pages",
              response.status == 200 and response.body["must_page"] is True
              and ticket_row(admin, untriaged)[12] is True,
              repr(response))
    finally:
        with admin.cursor() as cursor:
            cursor.execute("UPDATE ops.sla_policies SET pages_on_open = false WHERE priority = 'P1'")
    check("the default policy restored, the P1 pages no more", ticket_row(admin, untriaged)[12] is False,
          repr(ticket_row(admin, untriaged)))

    staff_ticket = t.open("sue", priority="P2", title="Rotate keys", org_id=ACME).body["ticket_id"]
    t.priority("oli", staff_ticket, "P1")
    row = ticket_row(admin, staff_ticket)
    check("a staff ticket's priority change is no triage (triaged_at NULL, no triage event)",
          row[1] == "P1" and row[11] is None and events_of(admin, staff_ticket, "triage") == [], repr(row))
    return ticket


def first_response(t, admin):
    """The first public comment by staff other than the reporter is the first response."""
    # A tenant's own ticket.
    ticket = t.open("ana", priority="P3", title="How do I add a category?").body["ticket_id"]
    for who in ("ana", "ada", "sam"):
        response = t.comment(who, ticket, f"{who} asks again")
        check(f"{who}'s (tenant) public comment on ana's ticket is no first response",
              response.status == 200 and response.body["response"]["state"] == "on_track"
              and ticket_row(admin, ticket)[3] is None, f"{response!r} {ticket_row(admin, ticket)!r}")
    response = t.comment("sue", ticket, "Checking with the team", "internal")
    check("sue's internal comment is no first response: the response clock still runs",
          response.status == 200 and response.body["response"]["state"] == "on_track"
          and ticket_row(admin, ticket)[3] is None, f"{response!r} {ticket_row(admin, ticket)!r}")
    response = t.comment("sue", ticket, "Settings, then Categories.")
    first = ticket_row(admin, ticket)[3]
    check("sue's public comment is the first response: first_response_at set, response clock met",
          response.status == 200 and response.body["response"]["state"] == "met" and first is not None,
          f"{response!r} {first!r}")
    response = t.get("ana", "/tickets", TICKETS + " WHERE id = %s", (ticket,))
    check("ana reads the first response time on GET /tickets",
          response.status == 200 and len(response.body) == 1 and response.body[0][9] == first, repr(response))
    t.comment("oli", ticket, "And Save.")
    check("a later staff comment does not move first_response_at", ticket_row(admin, ticket)[3] == first,
          repr(ticket_row(admin, ticket)))

    # A staff ticket for Acme with a customer as reporter: a tenant's comment is still no response.
    ticket = t.open("sue", priority="P3", title="Customer asks about limits", reporter=CUSTOMER,
                    org_id=ACME).body["ticket_id"]
    response = t.comment("ada", ticket, "We need this answered")
    check("ada's comment on a staff ticket reported by a customer is no first response (not staff)",
          response.status == 200 and ticket_row(admin, ticket)[3] is None,
          f"{response!r} {ticket_row(admin, ticket)!r}")

    # An internal ticket reported by sue.
    ticket = t.open("sue", priority="P3", title="Reported by sue herself").body["ticket_id"]
    response = t.comment("sue", ticket, "a note to myself")
    check("the reporter's own public comment (sue, staff) is no first response",
          response.status == 200 and response.body["response"]["state"] == "on_track"
          and ticket_row(admin, ticket)[3] is None, repr(response))
    response = t.comment("oli", ticket, "seen", "internal")
    check("oli's internal comment is no first response either",
          response.status == 200 and ticket_row(admin, ticket)[3] is None, repr(response))
    response = t.comment("oli", ticket, "On it")
    check("oli's public comment is",
          response.status == 200 and response.body["response"]["state"] == "met"
          and ticket_row(admin, ticket)[3] is not None, repr(response))


def views(t, admin, targets, features, internal_bodies):
    """GET on each view for each caller: exactly the rows the rule gives them."""
    feature_ids = {ticket for ticket, _ in features.values()}
    expected_sql = {
        "/tickets": "SELECT t.ticket_id FROM ops.tickets t WHERE {scope}",
        "/sla_board": "SELECT t.ticket_id FROM ops.tickets t WHERE t.closed_at IS NULL AND {scope}",
        "/feature_backlog": "SELECT t.ticket_id FROM ops.tickets t WHERE t.kind = 'feature'"
                            " AND t.closed_at IS NULL AND {scope}",
        "/ticket_events": "SELECT e.event_id FROM ops.ticket_events e JOIN ops.tickets t USING (ticket_id)"
                          " WHERE {scope} AND (%s OR e.visibility = 'public' AND e.action IN"
                          " ('open', 'status', 'priority', 'triage', 'comment', 'pause', 'resume'))",
    }
    for who in CALLERS:
        for path, sql in VIEWS.items():
            response = t.get(who, path, sql)
            if who == "anonymous":
                check(f"anonymous: GET {path} is 401 (42501)",
                      response.status == 401 and response.sqlstate == "42501", repr(response))
                continue
            check(f"{who}: GET {path} is 200", response.status == 200, repr(response))
            if response.status != 200:
                continue
            rows = response.body
            ids = {row[0] for row in rows}
            if path == "/ticket_events":
                want = expected_ids(admin, who, expected_sql[path].replace("%s", "true" if who in STAFF else "false"))
            else:
                want = expected_ids(admin, who, expected_sql[path])
            scope = "all organisations and internal" if who in STAFF else f"{ORG_NAMES[TENANTS[who]]} only"
            check(f"{who}: GET {path} returns exactly the rows of {scope} ({len(want)})", ids == want,
                  f"extra {sorted(ids - want)}, missing {sorted(want - ids)}")
            if who not in STAFF and path != "/ticket_events":
                org_column = {"/tickets": 1, "/sla_board": 9, "/feature_backlog": 4}[path]
                foreign = [row for row in rows if row[org_column] != TENANTS[who]]
                check(f"{who}: GET {path} has no row of another organisation and no internal row",
                      rows and not foreign, repr(foreign or rows))
            checked = features if path == "/feature_backlog" else targets
            for name, (ticket, org) in checked.items():
                if path == "/ticket_events":
                    seen = any(row[1] == ticket for row in rows)
                else:
                    seen = ticket in ids
                visible = sees(who, org)
                check(f"{who}: GET {path} {'shows' if visible else 'hides'} the {name} "
                      f"{'feature request' if path == '/feature_backlog' else 'ticket'}",
                      seen == visible, repr([row for row in rows if ticket in row[:2]]))
            if path == "/feature_backlog":
                check(f"{who}: GET /feature_backlog lists only feature requests",
                      all(query(admin, "SELECT kind FROM ops.tickets WHERE ticket_id = %s", (row[0],))[0][0]
                          == "feature" for row in rows) and bool(ids & feature_ids), repr(rows))
            if path == "/ticket_events":
                acme = targets["Acme"][0]
                bodies = {row[3] for row in rows}
                internal_seen = sorted(bodies & set(internal_bodies))
                actions = {row[2] for row in rows if row[1] == acme}
                if who in STAFF:
                    check(f"{who}: GET /ticket_events shows every internal comment",
                          internal_seen == sorted(internal_bodies), repr(internal_seen))
                    check(f"{who}: GET /ticket_events shows the Acme ticket's assignments and its edit",
                          {"assignment", "edit"} <= actions, repr(actions))
                else:
                    check(f"{who}: GET /ticket_events shows no internal comment, and only public rows",
                          internal_seen == [] and all(row[4] == "public" for row in rows), repr(internal_seen))
                    check(f"{who}: GET /ticket_events shows only open/status/priority/triage/comment/pause/resume",
                          {row[2] for row in rows} <= TENANT_ACTIONS, repr({row[2] for row in rows}))
                    if TENANTS[who] == ACME:
                        check(f"{who}: the Acme ticket's history shows its status, pause, resume, priority and"
                              " comments, and no assignment or edit",
                              {"open", "status", "priority", "comment", "pause", "resume"} <= actions
                              and not actions & {"assignment", "edit"}, repr(actions))
                        check(f"{who}: Acme's history includes a triage",
                              any(row[2] == "triage" for row in rows), repr(rows))

    # api.tickets and api.ticket_events are read-only, for staff too.
    ticket = targets["Acme"][0]
    for who in ("sue", "ada", "ana"):
        for verb, path, sql in (
                ("INSERT", "/tickets", "INSERT INTO api.tickets (kind, priority, title, reporter)"
                                       " VALUES ('support', 'P2', 'x', 'y')"),
                ("UPDATE", "/tickets", f"UPDATE api.tickets SET title = 'changed' WHERE id = {ticket}"),
                ("DELETE", "/tickets", f"DELETE FROM api.tickets WHERE id = {ticket}"),
                ("UPDATE", "/ticket_events", f"UPDATE api.ticket_events SET body = 'x' WHERE ticket_id = {ticket}"),
                ("DELETE", "/ticket_events", f"DELETE FROM api.ticket_events WHERE ticket_id = {ticket}")):
            # No privilege to write either view: 403 (42501), as PostgREST answers a PATCH or a
            # DELETE its role may not make.
            refused(admin, f"{who}: {verb} on api.{path[1:]} (read-only)",
                    lambda: t.api.request({"INSERT": "POST", "UPDATE": "PATCH", "DELETE": "DELETE"}[verb], path, sql,
                                          token=t.tokens[who]), 403, "42501")


def unstaffing(t, admin, targets):
    """Staff is read from the user row on every request, not from the token."""
    internal = targets["internal"][0]
    with admin.cursor() as cursor:
        cursor.execute("SELECT iam.set_staff(%s, false)", (user_id("oli"),))
    refused(admin, "oli, no longer staff (same token): move_ticket of the Acme ticket",
            lambda: t.move("oli", targets["Acme"][0], NEXT[ticket_row(admin, targets["Acme"][0])[0]]), 403, "42501")
    refused(admin, "oli, no longer staff: ticket_sla of the internal ticket", lambda: t.sla("oli", internal),
            404, "PT404")
    response = t.get("oli", "/tickets", TICKETS + " WHERE id = %s", (internal,))
    check("oli, no longer staff: GET /tickets no longer shows the internal ticket",
          response.status == 200 and response.body == [], repr(response))
    refused(admin, "oli, no longer staff (app role employee): sla_report", lambda: t.report("oli"), 403, "42501")
    with admin.cursor() as cursor:
        cursor.execute("SELECT iam.set_staff(%s, true)", (user_id("oli"),))
    response = t.sla("oli", internal)
    check("oli, staff again: ticket_sla of the internal ticket (200)",
          response.status == 200 and response.body["ticket_id"] == internal, repr(response))


def reports(t, admin):
    """sla_report and ticket_counts: staff all organisations, a tenant admin their own, others 403."""
    totals = {}
    for who in CALLERS:
        if who in STAFF:
            scope, params, label = "true", (), "every organisation (and internal tickets)"
        elif who in ("ada", "gus"):
            scope, params, label = "t.org_id = %s", (TENANTS[who],), f"{ORG_NAMES[TENANTS[who]]} only"
        else:
            status, code = denial(who)
            refused(admin, f"{who}: sla_report", lambda: t.report(who), status, code)
            refused(admin, f"{who}: ticket_counts", lambda: t.counts(who), status, code)
            continue
        per_priority = query(admin, "SELECT p.priority, count(t.ticket_id) FROM ops.sla_policies p LEFT JOIN"
                                    " ops.tickets t ON t.priority = p.priority AND t.opened_at >= " + PERIOD[0] +
                             " AND t.opened_at < " + PERIOD[1] + " AND " + scope + " GROUP BY 1 ORDER BY 1", params)
        response = t.report(who)
        got = [(row[0], row[1]) for row in response.body] if response.status == 200 else None
        check(f"{who}: sla_report (200) counts the tickets of {label} per priority", got == per_priority,
              f"{response!r} expected {per_priority!r}")
        totals[who] = sum(count for _, count in got or [])
        per_state = query(admin, "SELECT t.kind, t.state, count(*) FROM ops.tickets t WHERE t.opened_at >= "
                          + PERIOD[0] + " AND t.opened_at < " + PERIOD[1] + " AND " + scope +
                          " GROUP BY 1, 2 ORDER BY 1, 2", params)
        total = sum(row[2] for row in per_state)
        response = t.counts(who)
        got = ([row[:3] for row in response.body if "all" not in row[:2]], response.body[-1][:3]) \
            if response.status == 200 and response.body else None
        check(f"{who}: ticket_counts (200) counts the tickets of {label} per kind and state, total {total}",
              got == (per_state, ("all", "all", total)), f"{response!r} expected {per_state!r}")
    internal = query(admin, "SELECT count(*) FROM ops.tickets WHERE org_id IS NULL")[0][0]
    check("Acme's and Globex's admins count fewer tickets than staff: staff = Acme + Globex + internal",
          0 < totals.get("ada", 0) < totals.get("sue", 0) and 0 < totals.get("gus", 0) < totals.get("sue", 0)
          and totals.get("sue") == totals.get("oli") == totals.get("ada", 0) + totals.get("gus", 0) + internal,
          f"{totals!r}, internal {internal}")


def limits(t, admin):
    """Each field over its limit is 400 (22001) naming the field and the limit; at it, accepted."""
    def over(name, field, limit, call):
        response = refused(admin, f"{name} over its limit", call, 400, "22001")
        check(f"{name}: the message names {field} and {limit}",
              isinstance(response.body, dict)
              and (response.body.get("message") or "").startswith(f"{field}: at most {limit}"),
              repr(response))

    for who in ("sue", "ana"):
        over(f"{who}: title of 201 characters", "title", 200, lambda: t.open(who, title="t" * 201))
        over(f"{who}: description of 20001 characters", "description", 20000,
             lambda: t.open(who, description="d" * 20001))
        over(f"{who}: affected_release of 51 characters", "affected_release", 50,
             lambda: t.open(who, affected_release="r" * 51))
        over(f"{who}: 21 labels", "labels", 20, lambda: t.open(who, labels=[f"l{i}" for i in range(21)]))
        over(f"{who}: a label of 51 characters", "labels", 50, lambda: t.open(who, labels=["ok", "l" * 51]))
    over("sue: reporter of 321 characters", "reporter", 320, lambda: t.open("sue", reporter="r" * 321))
    response = t.open("sue", title="t" * 200, description="d" * 20000, reporter="r" * 320,
                      affected_release="r" * 50, labels=["l" * 50] * 20, org_id=ACME)
    check("sue: every open_ticket field at its limit is accepted (200)", response.status == 200, repr(response))
    ticket = response.body["ticket_id"] if response.status == 200 else None
    response = t.open("ana", title="t" * 200, description="d" * 20000, affected_release="r" * 50,
                      labels=["l" * 50] * 20)
    check("ana: every open_ticket field at its limit is accepted (200)", response.status == 200, repr(response))

    over("ana: comment body of 20001 characters", "body", 20000, lambda: t.comment("ana", ticket, "b" * 20001))
    over("sue: comment body of 20001 characters", "body", 20000, lambda: t.comment("sue", ticket, "b" * 20001))
    response = t.comment("sue", ticket, "b" * 20000)
    check("sue: a comment of 20000 characters is accepted", response.status == 200, repr(response))
    over("sue: assignee of 321 characters", "assignee", 320, lambda: t.assign("sue", ticket, "a" * 321))
    response = t.assign("sue", ticket, "a" * 320)
    check("sue: an assignee of 320 characters is accepted",
          response.status == 200 and ticket_row(admin, ticket)[2] == "a" * 320, repr(response))

    incident = t.open("sue", kind="incident", priority="P2", title="Slow exports", org_id=ACME).body["ticket_id"]
    over("sue: workaround of 20001 characters", "workaround", 20000,
         lambda: t.move("sue", incident, "Mitigated", workaround="w" * 20001))
    response = t.move("sue", incident, "Mitigated", workaround="w" * 20000)
    check("sue: a workaround of 20000 characters is accepted",
          response.status == 200 and ticket_row(admin, incident)[14] == "w" * 20000, repr(response))
    over("sue: root_cause of 20001 characters", "root_cause", 20000,
         lambda: t.move("sue", incident, "Root-caused", root_cause="c" * 20001))
    response = t.move("sue", incident, "Root-caused", root_cause="c" * 20000)
    check("sue: a root_cause of 20000 characters is accepted",
          response.status == 200 and ticket_row(admin, incident)[6] == "c" * 20000, repr(response))
    t.move("sue", incident, "Fixed")
    url = "https://wiki.example.com/"
    over("sue: postmortem_url of 2001 characters", "postmortem_url", 2000,
         lambda: t.move("sue", incident, "Post-mortem done", postmortem_url=url + "p" * (2001 - len(url))))
    response = t.move("sue", incident, "Post-mortem done", postmortem_url=url + "p" * (2000 - len(url)))
    check("sue: a postmortem_url of 2000 characters is accepted",
          response.status == 200 and len(ticket_row(admin, incident)[7] or "") == 2000, repr(response))


def same_state(t, admin):
    """Moving a ticket to the state it is in is refused (22X53), in every phase of a support ticket."""
    ticket = t.open("sue", title="Stay where you are", org_id=GLOBEX).body["ticket_id"]
    for state, step in (("New", "Open"), ("Open", "Waiting on customer"), ("Waiting on customer", None)):
        response = refused(admin, f"sue: move a {state} ticket to {state}", lambda: t.move("sue", ticket, state),
                           400, "22X53")
        check(f"the refusal of {state} -> {state} names the allowed next states in its hint",
              "allowed next states" in (response.body.get("hint") or ""), repr(response))
        if step:
            t.move("sue", ticket, step)
    check("the paused ticket is still paused once (no pause or resume events from the refused moves)",
          [row[0] for row in events_of(admin, ticket)] == ["open", "status", "status", "pause"],
          repr(events_of(admin, ticket)))
    bug = t.open("gil", kind="bug", title="Same state").body["ticket_id"]
    refused(admin, "gil (tenant): move their own bug to its state (Reported)",
            lambda: t.move("gil", bug, "Reported"), 403, "42501")
    refused(admin, "oli: move the bug Reported -> Reported", lambda: t.move("oli", bug, "Reported"), 400, "22X53")


def support_flow(t, admin):
    """An Acme support P2 from New to Closed by staff, with its pause."""
    response = t.open("sue", priority="P2", title="Receipts do not upload", reporter=CUSTOMER,
                      description="Upload spins forever", org_id=ACME)
    ticket = response.body["ticket_id"]
    response = t.move("sue", ticket, "Resolved")
    check("an illegal skip (New -> Resolved) is 400 with 22X53",
          response.status == 400 and response.sqlstate == "22X53", repr(response))
    check("its hint names the allowed next state (Open)",
          "Open" in (response.body["hint"] or "") and "allowed next states" in (response.body["hint"] or ""),
          repr(response))
    response = t.move("sue", ticket, "Opened")
    check("an unknown state is 400 with 22X52", response.status == 400 and response.sqlstate == "22X52",
          repr(response))
    response = t.move("sue", ticket, "Open")
    check("New -> Open", response.status == 200 and response.body["state"] == "Open", repr(response))
    response = t.move("sue", ticket, "Resolved")
    check("Open -> Resolved skips Waiting on customer: 400 (22X53), hint names Waiting on customer",
          response.status == 400 and response.sqlstate == "22X53"
          and "Waiting on customer" in (response.body["hint"] or ""), repr(response))
    response = t.move("sue", ticket, "Waiting on customer")
    check("Open -> Waiting on customer pauses the resolution clock",
          response.status == 200 and response.body["state"] == "Waiting on customer"
          and response.body["resolution"]["state"] == "paused" and response.body["resolution"]["due_at"] is None,
          repr(response))
    response, row = t.board_row("sue", ticket)
    check("the board shows the resolution clock paused",
          row is not None and row[3] == "Waiting on customer" and row[7] == "paused", repr(response))
    response, row = t.board_row("ana", ticket)
    check("and so does Acme's board, to ana",
          row is not None and row[3] == "Waiting on customer" and row[7] == "paused", repr(response))
    response = t.move("sue", ticket, "Open")
    check("Waiting on customer -> Open resumes it",
          response.status == 200 and response.body["state"] == "Open"
          and response.body["resolution"]["state"] == "on_track" and response.body["resolution"]["due_at"],
          repr(response))
    t.move("sue", ticket, "Waiting on customer")
    response = t.move("sue", ticket, "Resolved")
    check("Waiting on customer -> Resolved stops the resolution clock in time (met)",
          response.status == 200 and response.body["state"] == "Resolved"
          and response.body["resolution"]["state"] == "met", repr(response))
    response = t.move("sue", ticket, "Closed", satisfaction=6)
    check("closing with satisfaction 6 is 400 (23514) and leaves it Resolved",
          response.status == 400 and response.sqlstate == "23514" and ticket_row(admin, ticket)[0] == "Resolved",
          repr(response))
    response = t.move("sue", ticket, "Closed", satisfaction=0)
    check("so is satisfaction 0", response.status == 400, repr(response))
    response = t.move("sue", ticket, "Closed", satisfaction=5)
    check("Resolved -> Closed with satisfaction 5",
          response.status == 200 and response.body["state"] == "Closed" and ticket_row(admin, ticket)[5] == 5,
          repr(response))
    response = t.move("sue", ticket, "Open")
    check("Closed is final: 400 (22X53)", response.status == 400 and response.sqlstate == "22X53", repr(response))
    for who in ("sue", "ana"):
        response = t.get(who, "/sla_board", BOARD + " WHERE ticket_id = %s", (ticket,))
        check(f"a closed ticket leaves the board ({who}: 200, no row)",
              response.status == 200 and response.body == [], repr(response))
    expected = query(admin, "SELECT count(*), round(avg(satisfaction), 2) FROM ops.tickets"
                            " WHERE kind = 'support' AND state = 'Closed'")[0]
    response = t.counts("sue")
    check("ticket_counts shows the closed support tickets and their mean satisfaction",
          response.status == 200 and expected[0] >= 1
          and any(row[:2] == ("support", "Closed") and row[2:] == expected for row in response.body),
          f"{response!r} expected {expected!r}")
    expected = query(admin, "SELECT count(*), round(avg(satisfaction), 2) FROM ops.tickets"
                            " WHERE kind = 'support' AND state = 'Closed' AND org_id = %s", (ACME,))[0]
    response = t.counts("ada")
    check("and Acme's admin sees Acme's closed support tickets in hers",
          response.status == 200 and expected[0] >= 1
          and any(row[:2] == ("support", "Closed") and row[2:] == expected for row in response.body),
          f"{response!r} expected {expected!r}")

    # The event log: every API action under the staff user's email.
    rows = events_of(admin, ticket)
    history = ["open", "status", "status", "pause", "status", "resume", "status", "pause", "status", "resume",
               "status"]
    check("the event log records the open, each move, the pause and the resume, and the satisfaction edit",
          [row[0] for row in rows] == history + ["edit"], repr(rows))
    check("with actor = the staff user's email for every API action",
          rows and all(row[3] == "sue@test" for row in rows), repr(rows))
    check("and the reporter is the customer, not the actor", ticket_row(admin, ticket)[13] == CUSTOMER,
          repr(ticket_row(admin, ticket)))
    response = t.get("ana", "/ticket_events", EVENTS + " WHERE ticket_id = %s ORDER BY event_id", (ticket,))
    check("ana (Acme) reads the same history without the internal edit",
          response.status == 200 and [row[2] for row in response.body] == history, repr(response))
    response = t.get("gil", "/ticket_events", EVENTS + " WHERE ticket_id = %s", (ticket,))
    check("gil (Globex) reads none of it", response.status == 200 and response.body == [], repr(response))
    for who in ("oli", "ben"):
        opened = t.open(who, title=f"Opened by {who}").body["ticket_id"]
        rows = query(admin, "SELECT actor, (SELECT reporter FROM ops.tickets WHERE ticket_id = %s)"
                            " FROM ops.ticket_events WHERE ticket_id = %s", (opened, opened))
        check(f"{who}'s opening is recorded as theirs, and they are the default reporter",
              rows == [(email(who), email(who))], repr(rows))


def incident_flow(t, admin):
    """A P0 cannot close without its root cause and post-mortem link."""
    response = t.open("sue", kind="incident", priority="P0", title="Logins fail for everyone")
    check("a P0 incident opens in Investigating with must_page true and a 15 minute response target",
          response.status == 200 and is_sla(response.body, "Investigating") and response.body["must_page"] is True
          and response.body["response"]["target"] == "00:15:00", repr(response))
    p0 = response.body["ticket_id"] if response.status == 200 else None
    response, row = t.board_row("sue", p0)
    check("the board shows the P0 with must_page true", row is not None and row[8] is True, repr(response))
    for state in ("Mitigated", "Root-caused", "Fixed", "Post-mortem done"):
        response = t.move("sue", p0, state)
        if response.status != 200:
            break
    check("the P0 walks to Post-mortem done; Fixed stopped the resolution clock",
          response.status == 200 and response.body["state"] == "Post-mortem done"
          and response.body["resolution"]["state"] == "met", repr(response))
    response = t.move("sue", p0, "Closed")
    check("closing the P0 without root cause or post-mortem is 400 (22X54)",
          response.status == 400 and response.sqlstate == "22X54", repr(response))
    check("the message names both missing tier actions",
          "missing: root_cause, postmortem_url" in (response.body["message"] or ""), repr(response))
    response = t.move("sue", p0, "Closed", root_cause="an expired certificate")
    check("with the root cause only, the message names the post-mortem link alone",
          response.status == 400 and response.sqlstate == "22X54"
          and (response.body["message"] or "").endswith("missing: postmortem_url"), repr(response))
    check("and the refused close stored nothing", ticket_row(admin, p0)[6] is None, repr(ticket_row(admin, p0)))
    response = t.move("sue", p0, "Closed", root_cause="an expired certificate", postmortem_url="ftp://wiki/pm-1")
    check("a post-mortem link that is not http(s) is 400 (23514)",
          response.status == 400 and response.sqlstate == "23514", repr(response))
    response = t.move("oli", p0, "Closed", root_cause="an expired certificate",
                      postmortem_url="https://wiki.example.com/pm-1")
    row = ticket_row(admin, p0)
    check("with both it closes (oli, staff with app role employee)",
          response.status == 200 and response.body["state"] == "Closed"
          and row[6:8] == ("an expired certificate", "https://wiki.example.com/pm-1"), repr(response))

    response = t.open("sue", kind="chore", priority="P2", title="x")
    check("an unknown kind is 400 (22X50) naming the valid kinds",
          response.status == 400 and response.sqlstate == "22X50" and "support" in response.body["message"],
          repr(response))
    response = t.open("sue", priority="P9", title="x")
    check("an unknown priority is 400 (22X51)", response.status == 400 and response.sqlstate == "22X51",
          repr(response))
    response = t.open("sue", priority="p1", title="x")
    check("priorities are case-sensitive: p1 is 400 (22X51)", response.status == 400 and response.sqlstate == "22X51",
          repr(response))


def clocks(t, admin):
    """The first response by comment, and a priority change restating the due times."""
    ticket = t.open("sue", priority="P3", title="Question about limits", reporter=CUSTOMER,
                    org_id=GLOBEX).body["ticket_id"]
    response = t.sla("sue", ticket)
    check("before any response the response clock runs (on_track)",
          response.status == 200 and response.body["response"]["state"] == "on_track", repr(response))
    response = t.comment("sue", ticket, "Hello, the limit is per day.")
    first = ticket_row(admin, ticket)[3]
    check("a staff comment is the first response: first_response_at is set",
          response.status == 200 and first is not None, repr(first))
    response = t.sla("gus", ticket)
    check("and api.ticket_sla reports the response clock met (to Globex's admin too)",
          response.status == 200 and response.body["response"]["state"] == "met", repr(response))
    t.comment("oli", ticket, "Second answer")
    check("a later comment does not move first_response_at", ticket_row(admin, ticket)[3] == first)

    ticket = t.open("sue", priority="P2", title="Priority will change", reporter=CUSTOMER,
                    org_id=ACME).body["ticket_id"]
    opened = ticket_row(admin, ticket)[4]
    before = t.sla("sue", ticket).body
    check("a P2 on 24x7 is due 24 h (response) and 7 days (resolution) after opening",
          when(before["response"]["due_at"]) == opened + timedelta(hours=24)
          and when(before["resolution"]["due_at"]) == opened + timedelta(days=7), repr(before))
    response = t.priority("sue", ticket, "P0")
    check("raised to P0 it is due 15 min and 4 h after opening, and it is P0",
          response.status == 200 and response.body["priority"] == "P0"
          and when(response.body["response"]["due_at"]) == opened + timedelta(minutes=15)
          and when(response.body["resolution"]["due_at"]) == opened + timedelta(hours=4), repr(response))
    response = t.sla("ana", ticket)
    check("ana (Acme) reads the restated due time",
          response.status == 200 and when(response.body["response"]["due_at"]) == opened + timedelta(minutes=15),
          repr(response))
    response = t.priority("sue", ticket, "P4")
    check("set_ticket_priority with P4 is 400 (22X51) and keeps P0",
          response.status == 400 and response.sqlstate == "22X51" and ticket_row(admin, ticket)[1] == "P0",
          repr(response))
    rows = [row[1:4] for row in events_of(admin, ticket, "priority")]
    check("the priority change is in the event log with its actor", rows == [("P2", "P0", "sue@test")], repr(rows))
    t.assign("sue", ticket, "oli@test")
    response = t.assign("sue", ticket, "   ")
    check("assigning to blanks unassigns", response.status == 200 and ticket_row(admin, ticket)[2] is None,
          repr(response))


def direct_access(t):
    """expense_user reaches tickets only through the API, even as staff."""
    statements = {
        "ops.tickets": ("SELECT * FROM ops.tickets",
                        "INSERT INTO ops.tickets (kind, priority, title, reporter) VALUES ('support', 'P2', 'x', 'y')",
                        "UPDATE ops.tickets SET title = 'hacked'"),
        "ops.ticket_events": ("SELECT * FROM ops.ticket_events",
                              "INSERT INTO ops.ticket_events (ticket_id, actor, action) VALUES (1, 'x', 'comment')",
                              "UPDATE ops.ticket_events SET visibility = 'public'"),
        "ops.sla_transitions": ("SELECT * FROM ops.sla_transitions",
                                "INSERT INTO ops.sla_transitions (ticket_id, clock, state, at)"
                                " VALUES (1, 'response', 'breached', now())",
                                "UPDATE ops.sla_transitions SET at = now()"),
    }
    for who in ("sue", "ada", "ana"):
        for table, (select, insert, update) in statements.items():
            for verb, sql in (("SELECT", select), ("INSERT", insert), ("UPDATE", update)):
                response = t.api.request("GET" if verb == "SELECT" else "POST", "/" + table.split(".")[1], sql,
                                         token=t.tokens[who])
                check(f"{who}: {verb} on {table} directly is 403 (42501, no privilege on the schema or table)",
                      response.status == 403 and response.sqlstate == "42501"
                      and re.match(r"permission denied for (schema ops|table)", response.body["message"] or ""),
                      repr(response))
    for sql in ("SELECT ops.refresh_sla_transitions()", "SELECT ops.ticket_sla(1)",
                "SELECT ops.read_clock('24x7', now(), '1 hour', NULL, '{}', 0.75, now())",
                "SELECT ops.sla_report(now() - interval '1 day', now(), NULL)"):
        response = t.api.request("POST", "/rpc/x", sql, token=t.tokens["sue"])
        check(f"sue: {sql.split('(')[0][7:]}() is not callable through the API (403)",
              response.status == 403, repr(response))


def bad_input(t, admin):
    title = "'); DROP TABLE ops.tickets; -- \\ % _ $$ \" ; SELECT 1"
    response = t.open("sue", title=title, reporter=CUSTOMER, labels=["a'b", "c\"d"],
                      description="E'\\x00' /* */ %s %(x)s", org_id=ACME)
    check("SQL metacharacters in title, description and labels are accepted (200)",
          response.status == 200, repr(response))
    ticket = response.body["ticket_id"] if response.status == 200 else None
    rows = query(admin, "SELECT title, description, labels FROM ops.tickets WHERE ticket_id = %s", (ticket,))
    check("and stored verbatim", rows == [(title, "E'\\x00' /* */ %s %(x)s", ["a'b", 'c"d'])], repr(rows))
    body = "Robert'); DELETE FROM ops.ticket_events; --\n\ttabs, ünïcödé ✓, 'quotes' and \"doubles\""
    response = t.comment("ana", ticket, body)
    rows = query(admin, "SELECT body FROM ops.ticket_events WHERE ticket_id = %s AND action = 'comment'", (ticket,))
    check("a tenant's comment with SQL metacharacters is stored verbatim", response.status == 200 and rows == [(body,)],
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
         "open_ticket", 400, "22001"),
        ("open_ticket with a 20001-character description",
         dict(kind="support", priority="P2", title="x", description="d" * 20001), "open_ticket", 400, "22001"),
        ("open_ticket for an organisation that does not exist",
         dict(kind="support", priority="P2", title="x", org_id="00000000-0000-0000-0000-00000000ffff"),
         "open_ticket", 409, "23503"),
        ("move_ticket with a NULL state", dict(ticket_id=ticket, state=None), "move_ticket", 400, "22004"),
        ("move_ticket of a NULL ticket", dict(ticket_id=None, state="Open"), "move_ticket", 404, "PT404"),
        ("move_ticket of an unknown ticket", dict(ticket_id=987654321, state="Open"), "move_ticket", 404, "PT404"),
        ("ticket_sla of an unknown ticket", dict(ticket_id=987654321), "ticket_sla", 404, "PT404"),
        ("comment_ticket with a NULL body", dict(ticket_id=ticket, body=None), "comment_ticket", 400, "22004"),
        ("comment_ticket with a blank body", dict(ticket_id=ticket, body="   "), "comment_ticket", 400, "22004"),
        ("comment_ticket with visibility 'secret'", dict(ticket_id=ticket, body="x", visibility="secret"),
         "comment_ticket", 400, "22023"),
        ("comment_ticket with a NULL visibility", dict(ticket_id=ticket, body="x", visibility=None),
         "comment_ticket", 400, "22023"),
        ("set_ticket_priority to NULL", dict(ticket_id=ticket, priority=None), "set_ticket_priority", 400, None),
        ("a ticket id that is not a number", dict(ticket_id="1; DROP TABLE ops.tickets"), "ticket_sla", 400, "22P02"),
        ("a satisfaction that is not a number", dict(ticket_id=ticket, state="Open", satisfaction="five"),
         "move_ticket", 400, "22P02"),
        # PostgREST casts each JSON argument to the parameter's type: out of range for integer.
        ("a huge satisfaction", dict(ticket_id=ticket, state="Open", satisfaction=str(10 ** 12)), "move_ticket", 400,
         "22003"),
    ]
    for name, arguments, function, status, sqlstate in cases:
        before = snapshot(admin)
        response = t.rpc("sue", function, **arguments)
        check(f"{name} is {status}" + (f" ({sqlstate})" if sqlstate else "") + ", nothing changed",
              response.status == status and (sqlstate is None or response.sqlstate == sqlstate)
              and snapshot(admin) == before, repr(response))
    # Whitespace of any kind is no comment (it would otherwise count as the first response).
    response = t.comment("sue", ticket, " \n\t ")
    check("comment_ticket with a body of only whitespace (newline, tab) is 400 (22004)",
          response.status == 400 and response.sqlstate == "22004", repr(response))
    check("the ticket is unchanged by the bad calls", ticket_row(admin, ticket)[0:4] == ("New", "P2", None, None),
          repr(ticket_row(admin, ticket)))
    for who in ("sue", "ada"):
        response = t.api.request("POST", "/rpc/sla_report",
                                 "SELECT * FROM api.sla_report(now(), now() - interval '1 day')", token=t.tokens[who])
        check(f"{who}: a reversed report period is 400 (22023)",
              response.status == 400 and response.sqlstate == "22023", repr(response))
    response = t.api.request("POST", "/rpc/sla_report", "SELECT * FROM api.sla_report(NULL, now())",
                             token=t.tokens["sue"])
    check("a NULL report period is 400 (22023)", response.status == 400 and response.sqlstate == "22023",
          repr(response))
    response = t.api.rpc("ticket_sla", token=t.tokens["sue"][:-4] + "AAAA", ticket_id=ticket)
    check("a token with a bad signature is 401 before the database", response.status == 401, repr(response))
    # The client passes arguments as bound SQL parameters and has no JSON request body, so a
    # malformed JSON body (PostgREST: 400 PGRST102 before any SQL) cannot be sent through it.


def main(admin_dsn, authenticator_dsn):
    admin, api, tokens = start_with_staff(admin_dsn, authenticator_dsn)
    t = Tickets(api, tokens)
    diag("staff marking")
    staff_marking(t, admin)
    diag("targets")
    targets, features = open_targets(t, admin)
    diag("open_ticket")
    opening(t, admin)
    diag("the matrix: every caller against the Acme, Globex and internal tickets")
    internal_bodies = matrix(t, admin, targets)
    diag("triage")
    triage(t, admin)
    diag("first response")
    first_response(t, admin)
    diag("views")
    views(t, admin, targets, features, internal_bodies)
    diag("staff is read from the user row")
    unstaffing(t, admin, targets)
    diag("reports")
    reports(t, admin)
    diag("limits")
    limits(t, admin)
    diag("same-state moves")
    same_state(t, admin)
    diag("support flow")
    support_flow(t, admin)
    diag("incident flow")
    incident_flow(t, admin)
    diag("clocks")
    clocks(t, admin)
    diag("direct access")
    direct_access(t)
    diag("bad input")
    bad_input(t, admin)
    api.close()
    admin.close()
    return finish()


if __name__ == "__main__":
    sys.exit(fixtures.api_suite("tickets", main))
