#!/usr/bin/python3
"""User administration and password changes through the PostgREST-shaped client.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import sys
import time

import fixtures
from fixtures import PASSWORD, USERS, start
from tap import check, finish


def main(admin_dsn, authenticator_dsn):
    admin, api, tokens = start(admin_dsn, authenticator_dsn)

    # Inviting.
    response = api.rpc("create_user", token=tokens["ada"], email="new@test", display_name="Newton",
                       role="employee", manager_id=USERS["mia"][0])
    check("an admin invites a user (200, with a one-time code)",
          response.status == 200 and "." in response.body.get("invitation_code", ""), repr(response))
    code, new_user = response.body["invitation_code"], response.body["user_id"]
    for who, status in (("fay", 403), ("ana", 403)):
        response = api.rpc("create_user", token=tokens[who], email=f"x-{who}@test", display_name="X")
        check(f"{who} may not invite ({status})", response.status == status, repr(response))
    response = api.rpc("create_user", email="anon@test", display_name="X")
    check("nor may the anonymous role (401)", response.status == 401, repr(response))
    response = api.rpc("create_user", token=tokens["ada"], email="NEW@test", display_name="Again")
    check("an email already invited in the organisation is 409", response.status == 409, repr(response))
    response = api.rpc("create_user", token=tokens["ada"], email="ana@test", display_name="Again")
    check("so is one that has an account in it", response.status == 409, repr(response))
    response = api.rpc("create_user", token=tokens["ada"], email="gus@test", display_name="Gus?")
    check("an email with an account in another organisation answers like a new one (200, a code):"
          " nothing about other tenants is disclosed",
          response.status == 200 and sorted(response.body) == ["email", "invitation_code", "invitation_expires_at",
                                                               "role", "user_id"], repr(response))
    response = api.rpc("accept_invitation", code=response.body["invitation_code"], password="a fine new password")
    check("only accepting it finds the clash (409), and takes nothing over",
          response.status == 409 and response.sqlstate == "23505", repr(response))
    response = api.rpc("login", email="gus@test", password="a fine new password")
    check("gus's account keeps its own password", response.status == 401, repr(response))
    response = api.rpc("create_user", token=tokens["ada"], email="boss@test", display_name="B", role="boss")
    check("an unknown role is 400", response.status == 400, repr(response))
    response = api.rpc("create_user", token=tokens["ada"], email="m@test", display_name="M", manager_id=USERS["gus"][0])
    check("a manager from another organisation is 404", response.status == 404, repr(response))

    response = api.rpc("login", email="new@test", password="anything at all")
    check("an invited user cannot log in before accepting", response.status == 401, repr(response))
    response = api.rpc("accept_invitation", code=code.split(".")[0] + ".wrong", password="a fine new password")
    check("a wrong code is refused (403)", response.status == 403, repr(response))
    response = api.rpc("accept_invitation", code="not-a-code", password="a fine new password")
    check("a malformed code is refused the same way (403)", response.status == 403, repr(response))
    response = api.rpc("accept_invitation", code=code, password="short")
    check("a short password is refused (400, 22X10)", response.status == 400 and response.sqlstate == "22X10",
          repr(response))
    response = api.rpc("accept_invitation", code=code, password="a fine new password")
    check("the right code sets the first password", response.status == 200, repr(response))
    response = api.rpc("accept_invitation", code=code, password="another fine password")
    check("and works only once (403)", response.status == 403, repr(response))
    response = api.rpc("login", email="new@test", password="a fine new password")
    check("the new user logs in", response.status == 200, repr(response))

    # Roles and managers take effect at once: policies read the user row, not the token.
    newton = response.body["token"]
    response = api.rpc("set_user_role", token=tokens["ada"], user_id=new_user, role="finance")
    check("an admin changes a role", response.status == 200, repr(response))
    response = api.request("GET", "/expenses", "SELECT count(*) FROM api.expenses", token=newton)
    check("the same token now sees the organisation's expenses", response.status == 200, repr(response))
    response = api.rpc("set_user_role", token=tokens["gus"], user_id=new_user, role="admin")
    check("another organisation's admin cannot touch the user (404)", response.status == 404, repr(response))
    response = api.rpc("set_user_manager", token=tokens["ada"], user_id=new_user, manager_id=USERS["ana"][0])
    check("an admin sets a manager", response.status == 200, repr(response))
    response = api.rpc("set_user_manager", token=tokens["ada"], user_id=new_user, manager_id=new_user)
    check("nobody manages themselves (400)", response.status == 400, repr(response))

    # Guessing the old password counts like failed logins: 12 guesses with one token, then the
    # right one, is refused while the account is locked.
    statuses = [api.rpc("change_password", token=tokens["sam"], old_password=f"guess {i}",
                        new_password="a new password").status for i in range(12)]
    check("12 wrong old passwords are each refused (403)", statuses == [403] * 12, repr(statuses))
    response = api.rpc("change_password", token=tokens["sam"], old_password=PASSWORD, new_password="a new password")
    check("then the right one is refused too: the account is locked (403)", response.status == 403, repr(response))
    response = api.rpc("login", email="sam@test", password=PASSWORD)
    check("and so is a login", response.status == 401, repr(response))
    with admin.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM iam.login_attempts WHERE via = 'change_password' AND email = 'sam@test'")
        recorded = cursor.fetchone()[0]
    check("each guess is recorded with the login attempts", recorded == 13, repr(recorded))

    # Changing one's password ends older tokens.
    response = api.rpc("change_password", token=tokens["ben"], old_password="wrong", new_password="a new password")
    check("a wrong old password is refused (403)", response.status == 403, repr(response))
    response = api.rpc("change_password", token=tokens["ben"], old_password=PASSWORD, new_password="short")
    check("a short new one is refused (400)", response.status == 400, repr(response))
    response = api.rpc("change_password", token=tokens["ben"], old_password=PASSWORD, new_password="a new password")
    check("the right old password changes it", response.status == 200, repr(response))
    response = api.request("GET", "/expenses", "SELECT 1", token=tokens["ben"])
    check("the token from before the change gets 401", response.status == 401, repr(response))
    time.sleep(1.1)  # a token must be issued in a later second than the change
    response = api.rpc("login", email="ben@test", password="a new password")
    check("the new password logs in", response.status == 200, repr(response))
    response = api.request("GET", "/expenses", "SELECT 1", token=response.body["token"])
    check("and its token works", response.status == 200, repr(response))
    response = api.rpc("login", email="ben@test", password=PASSWORD)
    check("the old password no longer does", response.status == 401, repr(response))

    # Deactivation.
    response = api.rpc("deactivate_user", token=tokens["ada"], user_id=USERS["ada"][0])
    check("an admin cannot deactivate themselves (409)", response.status == 409, repr(response))
    response = api.rpc("deactivate_user", token=tokens["fay"], user_id=USERS["ana"][0])
    check("finance cannot deactivate anyone (403)", response.status == 403, repr(response))
    response = api.rpc("deactivate_user", token=tokens["ada"], user_id=USERS["ana"][0])
    check("an admin deactivates a user", response.status == 200, repr(response))
    response = api.request("GET", "/expenses", "SELECT 1", token=tokens["ana"])
    check("whose token gets 401 at once", response.status == 401, repr(response))
    response = api.rpc("login", email="ana@test", password=PASSWORD)
    check("and who cannot log in", response.status == 401, repr(response))

    api.close()
    admin.close()
    return finish()


if __name__ == "__main__":
    sys.exit(fixtures.api_suite("users", main))
