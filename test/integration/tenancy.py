"""Two tenant organisations plus the operator's staff, on top of expenses_test.start().

start() seeds Acme (EUR: ana, ben, mia, fay, sam, ada) and Globex (USD: gus). This adds a Globex
employee (gil) and an "Operator" organisation whose users sue (app role support) and oli (app
role employee) are marked as the operator's staff with iam.set_staff(), in the superuser
connection, as only expense_ops_admin may. Everyone logs in through the PostgREST-shaped client.
"""

from expenses_test import ACME, GLOBEX, PASSWORD, USERS, start

OPERATOR = "00000000-0000-0000-0000-0000000000d3"
MORE_USERS = {  # name: (user id, org, app role, staff)
    "gil": ("00000000-0000-0000-0000-000000000008", GLOBEX, "employee", False),
    "sue": ("00000000-0000-0000-0000-000000000009", OPERATOR, "support", True),
    "oli": ("00000000-0000-0000-0000-00000000000a", OPERATOR, "employee", True),
}
STAFF = ("sue", "oli")
# The tenant callers of the matrix: each one's organisation.
TENANTS = {"ada": ACME, "sam": ACME, "ana": ACME, "gus": GLOBEX, "gil": GLOBEX}
ORG_NAMES = {ACME: "Acme", GLOBEX: "Globex", None: "internal"}


def user_id(name):
    return (USERS.get(name) or MORE_USERS[name])[0]


def email(name):
    return f"{name}@test"


def start_with_staff(admin_dsn, authenticator_dsn):
    """start(), plus gil, the Operator organisation and its staff, all logged in.
    Returns the superuser connection, the client and each user's token (None for anonymous)."""
    admin, api, tokens = start(admin_dsn, authenticator_dsn)
    with admin.cursor() as cursor:
        cursor.execute("INSERT INTO expense.orgs (org_id, name, base_currency, time_zone)"
                       " VALUES (%s, 'Operator', 'EUR', 'UTC')", (OPERATOR,))
        for name, (uid, org, role, staff) in MORE_USERS.items():
            cursor.execute(
                "INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash)"
                " VALUES (%s, %s, %s, %s, %s, iam.hash_password(%s))",
                (uid, org, email(name), name.title(), role, PASSWORD))
            if staff:
                cursor.execute("SELECT iam.set_staff(%s, true)", (uid,))
    for name in MORE_USERS:
        response = api.rpc("login", email=email(name), password=PASSWORD)
        if response.status != 200:
            raise RuntimeError(f"{name} cannot log in: {response!r}")
        tokens[name] = response.body["token"]
    tokens["anonymous"] = None
    return admin, api, tokens
