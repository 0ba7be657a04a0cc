#!/usr/bin/python3
"""The extension's upgrade path: ALTER EXTENSION UPDATE from the oldest shipped version ends in
the schema of a fresh install (upgrade_path.sh), the comparison notices an update script that
misses a change (upgrade_path.sh --self-check), and the demo's data survives the updates: its
expenses loaded at 0.2.0, its tickets at 0.3.0, then the update to the default version.

Runs alone (prove, or /usr/bin/python3 FILE) in databases of its own; see fixtures.py.
"""

import os
import re
import subprocess
import sys

import psycopg2

import fixtures
from fixtures import psql, tail, value
from tap import check, diag, finish

DATABASE = "expense_ops_upgrade"
UPGRADE_PATH = os.path.join(fixtures.HERE, "upgrade_path.sh")


def tool(*arguments):
    """upgrade_path.sh: its exit code and output. Its "ok - caught" lines are its own report,
    summed up here in one check, not TAP of this file."""
    result = subprocess.run([UPGRADE_PATH, *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return result.returncode, result.stdout


def upgrade_path():
    diag("the upgrade path")
    status, output = tool()
    check("ALTER EXTENSION UPDATE from the oldest version matches a fresh install", status == 0, tail(output, 20))
    # The comparison must catch an update script that misses a change: one statement of each kind
    # taken out of a copy of the update chain, each in turn.
    status, output = tool("--self-check")
    caught = len(re.findall(r"^ok - caught", output, re.MULTILINE))
    problems = "\n".join(line for line in output.splitlines() if not line.startswith(("ok", "     ")))
    check(f"and it notices an update script missing a change ({caught} kinds of statement tried)", status == 0,
          tail(problems, 20))


def upgraded(sql, params=()):
    return value(DATABASE, sql, params)


def due_times():
    return upgraded("SELECT md5(string_agg(ticket_id || ':' || response_due_at || ':' || resolution_due_at, ','"
                    " ORDER BY ticket_id)) FROM ops.tickets")


def count_rows():
    return upgraded("SELECT (SELECT count(*) FROM expense.expenses) || '/' || (SELECT count(*) FROM expense.expense_events)"
                    " || '/' || (SELECT count(*) FROM iam.users) || '/' || (SELECT count(*) FROM ops.tickets)"
                    " || '/' || (SELECT count(*) FROM ops.ticket_events) || '/' || (SELECT count(*) FROM ops.sla_transitions)")


def default_version():
    with open(os.path.join(fixtures.ROOT, "extension", "expense_ops.control")) as control:
        return re.search(r"^default_version *= *'(.*)'", control.read(), re.MULTILINE).group(1)


def data_through_upgrades():
    diag("data through upgrades: the demo's expenses at 0.2.0, its tickets at 0.3.0, then 0.4.0")
    with open(fixtures.DEMO_DATA) as file:
        demo = file.read().splitlines(keepends=True)
    tickets_from = next(i for i, line in enumerate(demo) if line.startswith("-- Support tickets:"))
    staff_from = next(i for i, line in enumerate(demo) if line.startswith("-- Staff:"))

    loaded = psql(DATABASE, "-o", "/dev/null", "-c", "CREATE EXTENSION expense_ops VERSION '0.2.0'", "-f", "-",
                  input="".join(demo[:tickets_from]))
    check("the demo's expenses load at 0.2.0", loaded.returncode == 0, tail(loaded.stdout, 5))
    loaded = psql(DATABASE, "-o", "/dev/null", "-c", "ALTER EXTENSION expense_ops UPDATE TO '0.3.0'", "-f", "-",
                  input="".join(demo[tickets_from:staff_from]))
    check("0.2.0 updates to 0.3.0 and the demo's tickets load", loaded.returncode == 0, tail(loaded.stdout, 5))

    # Rows indexed by the old, ASCII-only folding must be re-indexed for ICU's: the update rebuilds
    # the duplicates index (a new relfilenode), and an index scan then finds the folded merchant.
    upgraded("UPDATE expense.expenses SET merchant = 'BÄCKEREI MÜLLER' WHERE merchant = 'Taxi Berlin'")
    index_file_before = upgraded("SELECT pg_relation_filenode('expense.expenses_duplicates')")
    # A ticket written before 0.4.0 bounded labels, with 21 of them: the update must keep it.
    upgraded("INSERT INTO ops.tickets (kind, priority, title, reporter, labels)"
             " SELECT 'bug', 'P3', 'Labelled before the limit', 'old@example.com', array_agg('label-' || i)"
             " FROM generate_series(1, 21) i")
    due_before = due_times()
    before = count_rows()
    update = psql(DATABASE, "-c", "ALTER EXTENSION expense_ops UPDATE").stdout

    version = upgraded("SELECT extversion FROM pg_extension WHERE extname = 'expense_ops'")
    check("0.3.0 updates to the default version with data in place", version == default_version(),
          f"{version}: {tail(update, 5)}")
    after = count_rows()
    check(f"expenses, their audit trail, users, tickets, their events and SLA transitions are all still there ({before})",
          after == before, f"now {after}")
    check("every ticket keeps its due times", due_times() == due_before)
    check("ana@example.com still logs in", upgraded("SELECT api.login('ana@example.com', 'secret') ? 'token'") is True)
    labels_kept = upgraded("SELECT cardinality(labels) FROM ops.tickets WHERE title = 'Labelled before the limit'")
    check("the 21 labels written before the limit are kept, and the update said so",
          labels_kept == 21 and "labels_bounded exceed it" in update, f"{labels_kept} labels; {tail(update, 5)}")
    not_valid = upgraded("SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE NOT convalidated"
                         " AND connamespace IN ('iam'::regnamespace, 'ops'::regnamespace, 'expense'::regnamespace)")
    check("that limit stays NOT VALID, and every other new limit was validated", not_valid == "labels_bounded", not_valid)
    try:
        upgraded("UPDATE ops.tickets SET labels = labels || '{x}'::text[] WHERE title = 'Labelled before the limit'")
        refused = False
    except psycopg2.Error:
        refused = True
    check("and it holds for new writes: 21 labels are refused now", refused)
    check("the duplicates index was rebuilt by the update",
          upgraded("SELECT pg_relation_filenode('expense.expenses_duplicates')") != index_file_before)
    connection = fixtures.connect(DATABASE)
    try:
        found = fixtures.query(connection, """
            SET enable_seqscan = off; SET enable_bitmapscan = off;
            SELECT count(*) FROM expense.expenses e JOIN expense.expenses x USING (expense_id)
             WHERE (e.org_id, e.user_id, e.expense_date, e.amount_minor, e.currency, expense.normalize_merchant(e.merchant))
                 = (x.org_id, x.user_id, x.expense_date, x.amount_minor, x.currency, 'bäckerei müller')
               AND x.merchant = 'BÄCKEREI MÜLLER'""")[0][0]
    finally:
        connection.close()
    check("and an index scan finds 'BÄCKEREI MÜLLER' as 'bäckerei müller'", found == 1, f"{found} rows")

    loaded = psql(DATABASE, "-o", "/dev/null", "-f", "-", input="".join(demo[staff_from:]))
    check("the demo's staff load into the updated database", loaded.returncode == 0, tail(loaded.stdout, 5))
    board_all = upgraded("SELECT count(*) || '/' || count(*) FILTER (WHERE org_id IS NULL) FROM ops.sla_board")
    connection = fixtures.connect(DATABASE, autocommit=False)
    try:
        board_staff = fixtures.query(connection, """
            SET LOCAL ROLE expense_user;
            SELECT set_config('request.jwt.claims', '{"sub": "b0000000-0000-4000-8000-0000000000ff"}', true);
            SELECT count(*) || '/' || count(*) FILTER (WHERE org_id IS NULL) FROM api.sla_board""")[0][0]
        connection.rollback()
    finally:
        connection.close()
    check(f"and the staff user sees every open ticket on the board, internal ones included ({board_staff} of {board_all})",
          board_staff == board_all and int(board_all.split("/")[1]) > 0)


def main():
    upgrade_path()
    with fixtures.database(DATABASE, extension=False):
        data_through_upgrades()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
