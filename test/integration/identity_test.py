#!/usr/bin/python3
"""Login, tokens and revocation through the PostgREST-shaped client.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import base64
import json
import sys
import threading
import time

import jwt
import psycopg2

import fixtures
from postgrest import PostgREST
from tap import check, finish



def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(token, header=None, claims=None, signature=None):
    head, body, sig = token.split(".")
    if header is not None:
        head = b64(json.dumps(header).encode())
    if claims is not None:
        body = b64(json.dumps(claims).encode())
    if signature is not None:
        sig = signature
    return f"{head}.{body}.{sig}"


def main(admin_dsn, authenticator_dsn):
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("""
            INSERT INTO expense.orgs (org_id, name, base_currency)
            VALUES ('00000000-0000-0000-0000-0000000000a1', 'Acme', 'EUR');
            INSERT INTO iam.users (org_id, email, display_name, role, password_hash)
            VALUES ('00000000-0000-0000-0000-0000000000a1', 'ana@acme.test', 'Ana', 'employee',
                    iam.hash_password('correct horse battery'));
        """)
        cursor.execute("SELECT iam.postgrest_jwks()")
        jwks = cursor.fetchone()[0]

    api = PostgREST(authenticator_dsn, jwks)

    response = api.rpc("login", email="ana@acme.test", password="correct horse battery")
    check("POST /rpc/login as the anonymous role answers 200 with a token",
          response.status == 200 and "token" in response.body, repr(response))
    token = response.body["token"]

    claims = api.verify(token)
    check("the token verifies with python3-jwt under the JWKS key its kid names",
          claims["role"] == "expense_user" and claims["app_role"] == "employee"
          and set(claims) == {"role", "sub", "org", "app_role", "iat", "exp", "jti"}, repr(claims))
    check("it expires an hour after it was issued", claims["exp"] - claims["iat"] == 3600)

    response = api.rpc("login", email="ana@acme.test", password="wrong")
    check("a wrong password answers 401 with an error body",
          response.status == 401 and response.body["error"] == "invalid_credentials", repr(response))
    with admin.cursor() as cursor:
        cursor.execute("SELECT reason FROM iam.login_attempts ORDER BY attempt_id DESC LIMIT 1")
        reason = cursor.fetchone()[0]
    check("and the failed attempt is committed despite the 401", reason == "wrong_password", reason)

    response = api.rpc("login", email="ana@acme.test", password="wrong",
                       headers={"x-forwarded-for": "203.0.113.9"})
    with admin.cursor() as cursor:
        cursor.execute("SELECT host(client_ip) FROM iam.login_attempts ORDER BY attempt_id DESC LIMIT 1")
        ip = cursor.fetchone()[0]
    check("with no trusted proxy configured, x-forwarded-for is ignored: the connection's address is recorded"
          " (127.0.0.1 for the Unix socket, never NULL)", ip == "127.0.0.1", ip)

    # Tampered tokens never reach the database.
    secret = api.keys[jwt.get_unverified_header(token)["kid"]]
    tampered = {
        "alg none": forge(token, header={"alg": "none", "typ": "JWT", "kid": jwt.get_unverified_header(token)["kid"]},
                          signature=""),
        "a wrong signature": forge(token, signature=b64(b"\x00" * 32)),
        "changed claims": forge(token, claims={**claims, "role": "postgres"}),
        "an expired token": jwt.encode({**claims, "exp": int(time.time()) - 10}, secret, algorithm="HS256",
                                       headers={"kid": jwt.get_unverified_header(token)["kid"]}),
        "an unknown key": jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": "nope"}),
    }
    for name, bad in tampered.items():
        response = api.request("GET", "/rpc/health", "SELECT api.health()", token=bad)
        check(f"{name} is refused with 401", response.status == 401, repr(response))

    response = api.request("GET", "/rpc/health", "SELECT api.health()->>'status'", token=token)
    check("a valid token reaches the database", response.status == 200, repr(response))

    response = api.rpc("logout", token=token)
    check("POST /rpc/logout answers 200", response.status == 200, repr(response))
    response = api.request("GET", "/rpc/health", "SELECT api.health()->>'status'", token=token)
    check("afterwards the same token gets 401 from api.pre_request()",
          response.status == 401 and response.body["message"] == "token revoked", repr(response))

    response = api.rpc("logout")
    check("logging out without a token is 401", response.status == 401, repr(response))

    response = api.request("GET", "/iam/signing_keys", "SELECT secret FROM iam.signing_keys")
    check("the keys are out of reach of the anonymous role (401)", response.status == 401, repr(response))
    fresh = api.rpc("login", email="ana@acme.test", password="correct horse battery").body["token"]
    response = api.request("GET", "/iam/signing_keys", "SELECT secret FROM iam.signing_keys", token=fresh)
    check("and of a logged-in user (403)", response.status == 403, repr(response))

    with admin.cursor() as cursor:
        cursor.execute("UPDATE iam.users SET disabled_at = now() WHERE email = 'ana@acme.test'")
    response = api.request("GET", "/rpc/health", "SELECT 1", token=fresh)
    check("a deactivated user's token gets 401", response.status == 401, repr(response))

    address_throttle(admin, authenticator_dsn, jwks_of(admin))
    retired_key(admin, authenticator_dsn)

    api.close()
    admin.close()
    return finish()


def jwks_of(admin):
    with admin.cursor() as cursor:
        cursor.execute("SELECT iam.postgrest_jwks()")
        return cursor.fetchone()[0]


def address_throttle(admin, authenticator_dsn, jwks):
    """The address throttle behind a trusted proxy: the client is the right-most untrusted
    X-Forwarded-For hop, and failures are counted under a lock, so a burst of 30 parallel
    failures from one address cannot pass the cap of 20."""
    with admin.cursor() as cursor:
        cursor.execute("INSERT INTO iam.users (org_id, email, display_name, password_hash)"
                       " SELECT org_id, 'zed@acme.test', 'Zed', iam.hash_password('correct horse battery')"
                       " FROM iam.users WHERE email = 'ana@acme.test'")
        # PostgREST connects over the socket here (127.0.0.1); the reverse proxy is 10.0.0.2.
        cursor.execute("UPDATE iam.auth_settings SET trusted_proxies = '{127.0.0.1/32, 10.0.0.0/8}'")
    attacker = {"x-forwarded-for": "198.51.100.77, 10.0.0.2"}
    results = [None] * 30
    barrier = threading.Barrier(len(results))

    def attempt(index):
        client = PostgREST(authenticator_dsn, jwks)
        barrier.wait()
        results[index] = client.rpc("login", headers=attacker, email=f"nobody{index}@acme.test", password="guess")
        client.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    check("30 parallel failed logins from one address all answer 401",
          all(r is not None and r.status == 401 for r in results), repr([r and r.status for r in results]))
    with admin.cursor() as cursor:
        cursor.execute("SELECT reason, count(*) FROM iam.login_attempts WHERE client_ip = '198.51.100.77'"
                       " GROUP BY reason ORDER BY reason")
        reasons = cursor.fetchall()
    check("exactly 20 were judged and the other 10 refused by the address throttle",
          reasons == [("ip_throttled", 10), ("unknown_email", 20)], repr(reasons))

    api = PostgREST(authenticator_dsn, jwks)
    response = api.rpc("login", headers=attacker, email="zed@acme.test", password="correct horse battery")
    check("the throttled address is refused even the right password (401)", response.status == 401, repr(response))
    response = api.rpc("login", headers={"x-forwarded-for": "203.0.113.9, 10.0.0.2"},
                       email="zed@acme.test", password="correct horse battery")
    check("another client behind the same proxy logs in", response.status == 200, repr(response))
    response = api.rpc("login", headers={"x-forwarded-for": "203.0.113.9, 198.51.100.77, 10.0.0.2"},
                       email="zed@acme.test", password="correct horse battery")
    check("the throttled client cannot escape by writing another address in front (401)",
          response.status == 401, repr(response))
    response = api.rpc("login", headers={"x-forwarded-for": "198.51.100.77"}, email="zed@acme.test",
                       password="correct horse battery")
    check("nor can a client frame the victim: with the proxy's hop appended the header names the proxy's peer",
          response.status == 401, repr(response))
    response = api.rpc("login", headers={"x-forwarded-for": "garbage, 10.0.0.2"}, email="nobody@acme.test",
                       password="guess")
    with admin.cursor() as cursor:
        cursor.execute("SELECT host(client_ip) FROM iam.login_attempts ORDER BY attempt_id DESC LIMIT 1")
        recorded = cursor.fetchone()[0]
    check("an unparsable hop is recorded under the proxy that passed it on, never NULL",
          response.status == 401 and recorded == "10.0.0.2", repr(recorded))
    api.close()
    with admin.cursor() as cursor:
        cursor.execute("UPDATE iam.auth_settings SET trusted_proxies = '{}'")


def retired_key(admin, authenticator_dsn):
    """A retired signing key stops working at the next request, before PostgREST reloads."""
    api = PostgREST(authenticator_dsn, jwks_of(admin))  # still holds the old key, like PostgREST
    token = api.rpc("login", email="zed@acme.test", password="correct horse battery").body["token"]
    with admin.cursor() as cursor:
        cursor.execute("SELECT iam.rotate_signing_key()")
        cursor.execute("SELECT iam.retire_signing_key(%s)", (jwt.get_unverified_header(token)["kid"],))
    response = api.request("GET", "/rpc/health", "SELECT 1", token=token)
    check("a token signed with a retired key gets 401 at once, from api.pre_request()",
          response.status == 401 and response.sqlstate == "PT401", repr(response))
    api.close()


if __name__ == "__main__":
    sys.exit(fixtures.api_suite("identity", main))
