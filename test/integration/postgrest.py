"""A PostgREST-shaped client for the integration tests.

It does what PostgREST does for each request, against a live database:
  * it connects as a LOGIN authenticator that is not a superuser;
  * it verifies the bearer token outside the database, with python3-jwt and the JWKS from
    iam.postgrest_jwks(), as PostgREST does with its jwt-secret;
  * per request, in one transaction: set_config('role', ...), request.jwt.claims,
    request.method, request.path and request.headers (all transaction-local), then
    api.pre_request(), then the statement;
  * it maps the SQLSTATE of a failure to the HTTP status PostgREST would answer with, and
    honours response.status set by the function.
"""

import json

import jwt
import psycopg2
import psycopg2.extensions


# PostgREST's mapping of SQLSTATEs to HTTP statuses (its documentation, "Errors").
def http_status(sqlstate, anonymous):
    if sqlstate is None:
        return 500
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    if sqlstate == "42501":
        return 401 if anonymous else 403
    exact = {"23503": 409, "23505": 409, "25006": 405, "42883": 404, "42P01": 404,
             "P0001": 400, "42P17": 500, "57014": 500}
    if sqlstate in exact:
        return exact[sqlstate]
    prefixes = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500,
                "38": 500, "39": 500, "3B": 500, "40": 500, "53": 503, "54": 413, "55": 500,
                "57": 500, "58": 500, "F0": 500, "HV": 500, "P0": 500, "XX": 500}
    return prefixes.get(sqlstate[:2], 400)


class Response:
    def __init__(self, status, body, sqlstate=None):
        self.status = status
        self.body = body
        self.sqlstate = sqlstate

    def __repr__(self):
        return f"Response({self.status}, {self.body!r}, sqlstate={self.sqlstate})"


class PostgREST:
    def __init__(self, dsn, jwks, anon_role="expense_anon"):
        self.connection = psycopg2.connect(dsn)
        self.connection.autocommit = False
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                raise RuntimeError("the authenticator must not be a superuser: RLS would not apply")
        self.connection.rollback()
        self.keys = {key["kid"]: jwt.PyJWK(key).key for key in jwks["keys"]}
        self.anon_role = anon_role

    def close(self):
        self.connection.close()

    def verify(self, token):
        """The claims of a valid token; raises jwt.InvalidTokenError otherwise."""
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in self.keys:
            raise jwt.InvalidTokenError("unknown kid")
        return jwt.decode(token, self.keys[kid], algorithms=["HS256"],
                          options={"require": ["exp", "role"], "verify_aud": False})

    def request(self, method, path, sql, params=(), token=None, headers=None):
        """Runs `sql` as PostgREST would run the statement for METHOD PATH."""
        if token is not None:
            try:
                claims = self.verify(token)
            except jwt.InvalidTokenError as error:
                return Response(401, {"code": "PGRST301", "message": str(error)})
        else:
            claims = {"role": self.anon_role}
        anonymous = token is None
        request_headers = dict(headers or {})
        if token is not None:
            request_headers["authorization"] = "Bearer " + token
        cursor = self.connection.cursor()
        try:
            cursor.execute(
                "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
                " set_config('request.method', %s, true), set_config('request.path', %s, true),"
                " set_config('request.headers', %s, true)",
                (claims["role"], json.dumps(claims), method, path, json.dumps(request_headers)))
            cursor.execute("SELECT api.pre_request()")
            cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
            cursor.execute("SELECT current_setting('response.status', true)")
            status_override = cursor.fetchone()[0]
            self.connection.commit()
        except psycopg2.Error as error:
            self.connection.rollback()
            return Response(http_status(error.pgcode, anonymous),
                            {"code": error.pgcode, "message": error.diag.message_primary,
                             "hint": error.diag.message_hint}, error.pgcode)
        finally:
            cursor.close()
        default = 201 if method == "POST" and not path.startswith("/rpc/") else 200
        status = int(status_override) if status_override else default
        return Response(status, rows)

    def rpc(self, name, token=None, headers=None, **arguments):
        """POST /rpc/<name> with named arguments, returning the function's single value."""
        names = ", ".join(f"{key} => %s" for key in arguments)
        response = self.request("POST", f"/rpc/{name}", f"SELECT api.{name}({names})",
                                tuple(arguments.values()), token=token, headers=headers)
        if isinstance(response.body, list) and len(response.body) == 1:
            response.body = response.body[0][0]
        return response
