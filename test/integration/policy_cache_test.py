#!/usr/bin/python3
"""The rules trigger caches categories per backend; a change made by another session must
take effect at once.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import sys

import psycopg2

import fixtures
from tap import check, finish



INSERT = """INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant,
                                          amount_minor, currency)
            VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000002',
                    '00000000-0000-0000-0000-0000000000c1', current_date - %s, 'Taxi', 1250, 'EUR')"""


def sqlstate_of(connection, sql, params=()):
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        connection.commit()
        return None
    except psycopg2.Error as error:
        connection.rollback()
        return error.pgcode


def main(dsn):
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("""
            INSERT INTO expense.orgs (org_id, name, base_currency)
            VALUES ('00000000-0000-0000-0000-0000000000a1', 'Acme', 'EUR');
            INSERT INTO iam.users (user_id, org_id, email, display_name)
            VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000a1',
                    'ana@acme.test', 'Ana');
            INSERT INTO expense.categories (category_id, org_id, name, max_age_days)
            VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a1',
                    'Travel', 30);
        """)

    writer = psycopg2.connect(dsn)
    check("a backend writes an expense and caches the category",
          sqlstate_of(writer, INSERT, (20,)) is None)

    with admin.cursor() as cursor:
        cursor.execute("UPDATE expense.categories SET max_age_days = 10")
    check("another session's tighter maximum age applies to it at once",
          sqlstate_of(writer, INSERT, (20,)) == "22X21")

    with admin.cursor() as cursor:
        cursor.execute("UPDATE expense.categories SET max_age_days = 30, active = false")
    check("so does deactivating the category", sqlstate_of(writer, INSERT, (1,)) == "22X22")

    uncommitted = psycopg2.connect(dsn)
    with uncommitted.cursor() as cursor:
        cursor.execute("UPDATE expense.categories SET active = true")
    check("an uncommitted change does not leak into the cache",
          sqlstate_of(writer, INSERT, (1,)) == "22X22")
    uncommitted.commit()
    check("and applies once committed", sqlstate_of(writer, INSERT, (1,)) is None)

    with admin.cursor() as cursor:
        cursor.execute("UPDATE expense.orgs SET time_zone = 'Pacific/Kiritimati'")
        cursor.execute("SELECT (now() AT TIME ZONE 'Pacific/Kiritimati')::date - current_date")
        ahead = cursor.fetchone()[0]
    check("an organisation's new time zone moves its 'today' at once",
          sqlstate_of(writer, INSERT, (-ahead,)) is None
          and sqlstate_of(writer, INSERT, (-ahead - 1,)) == "22X20")

    for connection in (writer, uncommitted, admin):
        connection.close()
    return finish()


if __name__ == "__main__":
    with fixtures.database("expense_ops_policy_cache") as db:
        sys.exit(main(fixtures.dsn(db)))
