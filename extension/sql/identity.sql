-- expense_ops: tenants and identity. Organisations (the tenants), their users, the keys that
-- sign their tokens, logins (throttled, recorded), logout and the check PostgREST runs before
-- every request, who is calling, invitations and user administration. Login issues HS256 JWTs
-- that PostgREST accepts; the password work, the login decision and the client address are C++
-- (the rules in extension/core, each wrapped by the extension/pg file of the same name).

-- ---------------------------------------------------------------------------------------------
-- Limits on what API callers write. A CHECK constraint would refuse too, but its message names
-- the constraint, not the limit; these name both the field and the limit (SQLSTATE 22001,
-- string_data_right_truncation: HTTP 400). Used by every area's API.

CREATE FUNCTION expense.bounded_text(field text, value text, max_characters integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF length(value) > max_characters THEN
    RAISE EXCEPTION '%: at most % characters, got %', field, max_characters, length(value)
      USING ERRCODE = expense.sqlstate('text_too_long'), HINT = format('Shorten %s to %s characters or fewer.', field, max_characters);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION expense.bounded_text(text, text, integer) IS
  'Returns value, or raises 22001 naming the field and its limit when it has more than max_characters characters';

-- ---------------------------------------------------------------------------------------------
-- Organisations: the tenants. Their columns are checked by C++ (the compiled-in ISO 4217
-- table) and by PostgreSQL's time zone names.

CREATE FUNCTION expense.is_currency(code text) RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_is_currency';
COMMENT ON FUNCTION expense.is_currency(text) IS
  'True for an ISO 4217 currency code (upper case) that the compiled-in table accepts: see expense.currency_table_edition()';
CREATE FUNCTION expense.currency_table_edition() RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_currency_table_edition';
COMMENT ON FUNCTION expense.currency_table_edition() IS
  'The ISO 4217 edition the compiled-in currency table follows, and its source';

CREATE FUNCTION expense.is_time_zone(name text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM now() AT TIME ZONE name;
  RETURN name <> '' AND name !~ '^[+-]?[0-9]';  -- IANA names only, not POSIX offsets
EXCEPTION WHEN invalid_parameter_value THEN
  RETURN false;
END
$$;
COMMENT ON FUNCTION expense.is_time_zone(text) IS
  'True for a time zone name PostgreSQL knows (IANA, such as Europe/Berlin); numeric offsets are refused';

CREATE TABLE expense.orgs (
  org_id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                      text NOT NULL CHECK (btrim(name) <> ''),
  base_currency             text NOT NULL CHECK (expense.is_currency(base_currency)),
  time_zone                 text NOT NULL DEFAULT 'UTC' CHECK (expense.is_time_zone(time_zone)),
  created_at                timestamptz NOT NULL DEFAULT now(),
  second_approval_threshold bigint NOT NULL DEFAULT 100000 CHECK (second_approval_threshold > 0)
);
COMMENT ON TABLE expense.orgs IS 'Organisations: the tenants. Every domain row carries its org_id';
COMMENT ON COLUMN expense.orgs.org_id IS 'The tenant key, and the distribution column under Citus';
COMMENT ON COLUMN expense.orgs.name IS 'Display name';
COMMENT ON COLUMN expense.orgs.base_currency IS 'ISO 4217 code that reports and limits are kept in';
COMMENT ON COLUMN expense.orgs.time_zone IS 'IANA time zone that dates such as "today" are judged in';
COMMENT ON COLUMN expense.orgs.created_at IS 'When the organisation was created';
COMMENT ON COLUMN expense.orgs.second_approval_threshold IS
  'Expenses above this base-currency amount (minor units) need a second approval, by finance';

-- ---------------------------------------------------------------------------------------------
-- Primitives in C++ (extension/pg/password, jwt, random, login and client_address.cpp, rules in
-- extension/core). None is callable by the API roles: they run inside the SECURITY DEFINER
-- functions below.

CREATE FUNCTION iam.hash_password(password text) RETURNS text
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_hash_password';
COMMENT ON FUNCTION iam.hash_password(text) IS
  'argon2id PHC string of a new password (m=19 MiB, t=2, p=1); refuses fewer than 8 or more than 1024 bytes (22X10, 22X11)';

CREATE FUNCTION iam.rehash_password(password text) RETURNS text
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_rehash_password';
COMMENT ON FUNCTION iam.rehash_password(text) IS
  'argon2id PHC string of a password that just matched an older hash (bcrypt, weaker argon2id); no new-password rule applies';

CREATE FUNCTION iam.verify_password(password text, stored text) RETURNS text
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_verify_password';
COMMENT ON FUNCTION iam.verify_password(text, text) IS
  'match, rehash (right password, but bcrypt or weaker argon2id parameters) or mismatch';

CREATE FUNCTION iam.sign_token(claims jsonb, kid text, secret bytea) RETURNS text
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_sign_token';
COMMENT ON FUNCTION iam.sign_token(jsonb, text, bytea) IS 'HS256 JWT of the claims, with kid in its header';

CREATE FUNCTION iam.random_bytes(count integer) RETURNS bytea
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_random_bytes';
COMMENT ON FUNCTION iam.random_bytes(integer) IS 'count (1 to 1024) bytes from OpenSSL''s random generator';

CREATE FUNCTION iam.resolve_client_address(forwarded_for text, connection_address text, trusted_proxies text)
RETURNS text LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_resolve_client_address';
COMMENT ON FUNCTION iam.resolve_client_address(text, text, text) IS
  'The client address of a request: the right-most X-Forwarded-For hop that is not a trusted proxy, read only when the connection itself comes from one; never NULL';

CREATE FUNCTION iam.decide_login(
  password text, account_found boolean, password_hash text, disabled boolean,
  failures integer, window_start timestamptz, locks integer, locked_until timestamptz,
  address_failures bigint, address_failure_limit integer, at timestamptz,
  OUT reason text, OUT failures integer, OUT window_start timestamptz, OUT locks integer,
  OUT locked_until timestamptz, OUT new_password_hash text)
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_decide_login';
COMMENT ON FUNCTION iam.decide_login(text, boolean, text, boolean, integer, timestamptz, integer, timestamptz, bigint, integer, timestamptz) IS
  'The login decision: reason (ok, unknown_email, no_password, disabled, locked, ip_throttled, wrong_password), the lockout state to store, and a new hash when the stored one must be upgraded. Each refusal costs one argon2id computation';

-- ---------------------------------------------------------------------------------------------
-- Who is calling. Read from the caller's user row, never from claims beyond the user id.

-- In C++ (extension/pg/caller.cpp): row-level security asks these on every row, and they read
-- the caller's user row once per transaction instead of once per question. No SECURITY
-- DEFINER: the row is read by an index scan that checks no privileges, and only the caller's
-- own row, or whether the caller may see a colleague's expenses, comes out.
CREATE FUNCTION iam.current_user_id() RETURNS uuid
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_current_user_id';
COMMENT ON FUNCTION iam.current_user_id() IS 'The calling user: the sub claim of the request, or NULL';

CREATE FUNCTION iam.current_account(OUT user_id uuid, OUT org_id uuid, OUT role text)
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_current_account';
COMMENT ON FUNCTION iam.current_account() IS
  'The calling user''s id, organisation and application role, from their user row (one row of NULLs for anonymous or disabled callers); read once per transaction';

CREATE FUNCTION iam.can_see_expenses_of(owner uuid) RETURNS boolean
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_can_see_expenses_of';
COMMENT ON FUNCTION iam.can_see_expenses_of(uuid) IS
  'Whether the caller may see the owner''s expenses: their own, their reports'', or the whole organisation''s for finance and admin; never another organisation''s';

CREATE FUNCTION iam.caller_has_role(org_id uuid, VARIADIC roles text[]) RETURNS boolean
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'expense_ops_caller_has_role';
COMMENT ON FUNCTION iam.caller_has_role(uuid, text[]) IS
  'Whether the calling user belongs to the organisation with one of the application roles (read from the user row)';

CREATE FUNCTION iam.forget_caller() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_forget_caller';
COMMENT ON FUNCTION iam.forget_caller() IS
  'AFTER each statement on iam.users: drops this backend''s cached caller, which the write may have changed';

-- ---------------------------------------------------------------------------------------------
-- Row-level security on the organisations: everyone reads their own; its admins change it
-- (through api.organisation, in expenses.sql).

ALTER TABLE expense.orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON expense.orgs FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()));
CREATE POLICY admin_edits ON expense.orgs FOR UPDATE TO expense_user
  USING (iam.caller_has_role(org_id, 'admin')) WITH CHECK (iam.caller_has_role(org_id, 'admin'));
GRANT SELECT, UPDATE (name, time_zone, second_approval_threshold) ON expense.orgs TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- Users

CREATE TABLE iam.users (
  user_id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  org_id               uuid NOT NULL REFERENCES expense.orgs,
  email                text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
  display_name         text NOT NULL CHECK (btrim(display_name) <> ''),
  role                 text NOT NULL DEFAULT 'employee'
                       CHECK (role IN ('employee', 'manager', 'finance', 'support', 'admin')),
  manager_id           uuid,
  password_hash        text,
  password_changed_at  timestamptz,
  disabled_at          timestamptz,
  failed_logins        integer NOT NULL DEFAULT 0,
  failure_window_start timestamptz,
  lock_count           integer NOT NULL DEFAULT 0,
  locked_until         timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  is_staff             boolean NOT NULL DEFAULT false,
  UNIQUE (org_id, user_id),
  -- A manager belongs to the same organisation as the people they manage.
  FOREIGN KEY (org_id, manager_id) REFERENCES iam.users (org_id, user_id),
  CHECK (manager_id <> user_id),
  CONSTRAINT email_length CHECK (length(email) <= 320),
  CONSTRAINT display_name_length CHECK (length(display_name) <= 200)
);
CREATE UNIQUE INDEX users_email_key ON iam.users (lower(email));
CREATE INDEX users_manager ON iam.users (manager_id) WHERE manager_id IS NOT NULL;
CREATE TRIGGER forget_caller AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam.users
  FOR EACH STATEMENT EXECUTE FUNCTION iam.forget_caller();
COMMENT ON TABLE iam.users IS 'People who log in. role is the application role that policies read; email is unique across organisations';
COMMENT ON COLUMN iam.users.user_id IS 'The sub claim of the user''s tokens';
COMMENT ON COLUMN iam.users.org_id IS 'The user''s organisation: the org claim';
COMMENT ON COLUMN iam.users.email IS 'Login name, compared case-insensitively';
COMMENT ON COLUMN iam.users.display_name IS 'Name shown to others';
COMMENT ON COLUMN iam.users.role IS 'Application role: employee, manager, finance, support or admin';
COMMENT ON COLUMN iam.users.manager_id IS 'The user''s manager, who approves their expenses';
COMMENT ON COLUMN iam.users.password_hash IS 'argon2id PHC string, or a bcrypt hash migrated from elsewhere until the next login; NULL until the invitation is accepted';
COMMENT ON COLUMN iam.users.password_changed_at IS 'Tokens issued before this are refused by api.pre_request()';
COMMENT ON COLUMN iam.users.disabled_at IS 'Set when the user is deactivated; their tokens stop working at once';
COMMENT ON COLUMN iam.users.failed_logins IS 'Failed logins in the current 15-minute window';
COMMENT ON COLUMN iam.users.failure_window_start IS 'Start of the current 15-minute failure window';
COMMENT ON COLUMN iam.users.lock_count IS 'Locks since the last successful login; each doubles the next lock';
COMMENT ON COLUMN iam.users.locked_until IS 'Logins are refused until then';
COMMENT ON COLUMN iam.users.created_at IS 'When the user was created';
COMMENT ON COLUMN iam.users.is_staff IS
  'The operator''s staff (support agents, on-call engineers), who work every tenant''s tickets. Set only by expense_ops_admin with iam.set_staff(); a tenant''s own admin is not staff';
GRANT SELECT (user_id, org_id, email, display_name, role, manager_id, disabled_at, locked_until, created_at, is_staff)
  ON iam.users TO expense_ops_admin;

CREATE FUNCTION iam.set_staff(user_id uuid, is_staff boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE iam.users u SET is_staff = coalesce(set_staff.is_staff, false) WHERE u.user_id = set_staff.user_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user_id: no user %', user_id USING ERRCODE = expense.sqlstate('not_found');
  END IF;
END
$$;
COMMENT ON FUNCTION iam.set_staff(uuid, boolean) IS
  'Marks a user as the operator''s staff, or not (expense_ops_admin only, in psql): staff work every tenant''s tickets through the API';

-- ---------------------------------------------------------------------------------------------
-- Token signing keys. One signs (the newest that is not retired); all unretired keys verify.

CREATE TABLE iam.signing_keys (
  kid        text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{1,64}$'),
  secret     bytea NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  retired_at timestamptz
);
COMMENT ON TABLE iam.signing_keys IS 'HS256 keys: the newest unretired key signs, every unretired key verifies. Readable by nobody but the owner';
COMMENT ON COLUMN iam.signing_keys.kid IS 'Key id, written into each token''s header';
COMMENT ON COLUMN iam.signing_keys.secret IS '32 random bytes or more';
COMMENT ON COLUMN iam.signing_keys.created_at IS 'When the key was made; the newest signs';
COMMENT ON COLUMN iam.signing_keys.retired_at IS 'Once set, tokens under this key no longer verify';

INSERT INTO iam.signing_keys (kid, secret)
VALUES (encode(iam.random_bytes(9), 'hex'), iam.random_bytes(32));

CREATE FUNCTION iam.rotate_signing_key() RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO iam.signing_keys (kid, secret)
  VALUES (encode(iam.random_bytes(9), 'hex'), iam.random_bytes(32))
  RETURNING kid;
$$;
COMMENT ON FUNCTION iam.rotate_signing_key() IS
  'Makes a new signing key, which signs from now on; older keys still verify until retired. Returns its kid. Update PostgREST''s jwt-secret from iam.postgrest_jwks() afterwards';

CREATE FUNCTION iam.retire_signing_key(kid text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM iam.signing_keys k WHERE k.kid = retire_signing_key.kid AND retired_at IS NULL) THEN
    RAISE EXCEPTION 'no signing key "%" is in use', kid USING ERRCODE = expense.sqlstate('invalid_parameter'),
      HINT = 'SELECT kid FROM iam.postgrest_jwks() lists the keys in use.';
  END IF;
  IF (SELECT count(*) FROM iam.signing_keys WHERE retired_at IS NULL) = 1 THEN
    RAISE EXCEPTION 'signing key "%" is the last one in use', kid USING ERRCODE = expense.sqlstate('object_state'),
      HINT = 'Run iam.rotate_signing_key() first.';
  END IF;
  UPDATE iam.signing_keys k SET retired_at = now() WHERE k.kid = retire_signing_key.kid;
END
$$;
COMMENT ON FUNCTION iam.retire_signing_key(text) IS
  'Retires a key: tokens signed with it stop verifying once PostgREST reloads its jwt-secret. The last key in use cannot be retired';

CREATE FUNCTION iam.postgrest_jwks() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object('keys', coalesce(jsonb_agg(jsonb_build_object(
           'kty', 'oct', 'alg', 'HS256', 'kid', kid,
           'k', rtrim(translate(encode(secret, 'base64'), E'+/\n', '-_'), '='))
           ORDER BY created_at DESC), '[]'::jsonb))
    FROM iam.signing_keys
   WHERE retired_at IS NULL;
$$;
COMMENT ON FUNCTION iam.postgrest_jwks() IS
  'Exactly what PostgREST''s jwt-secret needs: a JWKS of the keys in use. Put its text into jwt-secret (or PGRST_JWT_SECRET) and reload PostgREST after each rotation';

-- ---------------------------------------------------------------------------------------------
-- Login attempts, revoked tokens, and how logins find and throttle the client address

CREATE TABLE iam.login_attempts (
  attempt_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  email      text NOT NULL,
  user_id    uuid,
  client_ip  inet,
  succeeded  boolean NOT NULL,
  reason     text NOT NULL
             CHECK (reason IN ('ok', 'unknown_email', 'no_password', 'wrong_password', 'locked',
                               'disabled', 'ip_throttled')),
  via        text NOT NULL DEFAULT 'login' CHECK (via IN ('login', 'change_password'))
);
COMMENT ON SEQUENCE iam.login_attempts_attempt_id_seq IS 'Numbers iam.login_attempts';
CREATE INDEX login_attempts_ip ON iam.login_attempts (client_ip, at) WHERE NOT succeeded;
CREATE INDEX login_attempts_user ON iam.login_attempts (user_id, at);
COMMENT ON TABLE iam.login_attempts IS 'Every login attempt, failed ones included; the caller only ever learns "invalid credentials"';
COMMENT ON COLUMN iam.login_attempts.attempt_id IS 'Sequence number';
COMMENT ON COLUMN iam.login_attempts.at IS 'When the attempt was made';
COMMENT ON COLUMN iam.login_attempts.email IS 'The email as given';
COMMENT ON COLUMN iam.login_attempts.user_id IS 'The account it named, if any';
COMMENT ON COLUMN iam.login_attempts.client_ip IS
  'The client address: the right-most X-Forwarded-For entry that is not a trusted proxy (iam.auth_settings), else the connection''s (127.0.0.1 for a Unix socket)';
COMMENT ON COLUMN iam.login_attempts.succeeded IS 'Whether a token was issued';
COMMENT ON COLUMN iam.login_attempts.reason IS 'ok, unknown_email, no_password, wrong_password, locked, disabled or ip_throttled';
COMMENT ON COLUMN iam.login_attempts.via IS 'login, or change_password (a wrong old password counts like a failed login)';
GRANT SELECT ON iam.login_attempts TO expense_ops_admin;

CREATE TABLE iam.revoked_tokens (
  jti        uuid PRIMARY KEY,
  user_id    uuid NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
COMMENT ON TABLE iam.revoked_tokens IS 'Tokens ended by api.logout() before they expired; api.pre_request() refuses them';
COMMENT ON COLUMN iam.revoked_tokens.jti IS 'The token''s jti claim';
COMMENT ON COLUMN iam.revoked_tokens.user_id IS 'Whose token it was';
COMMENT ON COLUMN iam.revoked_tokens.revoked_at IS 'When it was revoked';
COMMENT ON COLUMN iam.revoked_tokens.expires_at IS 'Its exp: after that the row may be deleted';

CREATE TABLE iam.auth_settings (
  singleton             boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  trusted_proxies       cidr[] NOT NULL DEFAULT '{}',
  address_failure_limit integer NOT NULL DEFAULT 20 CHECK (address_failure_limit > 0)
);
COMMENT ON TABLE iam.auth_settings IS 'One row: how logins find and throttle the client address';
COMMENT ON COLUMN iam.auth_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN iam.auth_settings.trusted_proxies IS
$$Networks whose X-Forwarded-For is believed: PostgREST's own address as the database sees it (127.0.0.1 over a Unix socket) and every reverse proxy in front of it. Empty (the default): the header is ignored and the connection's address is the client's. The client is the right-most address that is not a trusted proxy$$;
COMMENT ON COLUMN iam.auth_settings.address_failure_limit IS
  'Failed logins from one client address within 15 minutes after which that address is refused (default 20)';
INSERT INTO iam.auth_settings DEFAULT VALUES;
GRANT SELECT, UPDATE ON iam.auth_settings TO expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Login, logout, and the check PostgREST runs before every request. The decision, the password
-- work and the lockout are extension/core/login (C++); the address is extension/core/
-- client_address. Every failing path costs one argon2id computation.

CREATE FUNCTION iam.client_ip() RETURNS inet
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  forwarded text;
BEGIN
  BEGIN
    forwarded := nullif(current_setting('request.headers', true), '')::json->>'x-forwarded-for';
  EXCEPTION WHEN invalid_text_representation THEN
    forwarded := NULL;  -- headers that are not JSON carry no usable header
  END;
  RETURN iam.resolve_client_address(forwarded, host(inet_client_addr()),
                                    (SELECT array_to_string(s.trusted_proxies, ',') FROM iam.auth_settings s))::inet;
END
$$;
COMMENT ON FUNCTION iam.client_ip() IS
  'The client address of this request: see iam.resolve_client_address and iam.auth_settings.trusted_proxies';

-- Failed attempts from one address are counted under a lock on that address: concurrent
-- attempts queue between counting and recording, so a burst cannot pass the limit.
CREATE FUNCTION iam.serialise_address(address inet) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock(hashtext('expense_ops.login_address'), hashtext(host(address)));
$$;
COMMENT ON FUNCTION iam.serialise_address(inet) IS
  'Waits for, then holds until the end of the transaction, the lock that serialises logins from one client address';

CREATE FUNCTION api.login(email text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  given_email text := expense.bounded_text('email', coalesce(email, ''), 320);
  settings iam.auth_settings;
  ip inet := iam.client_ip();
  account iam.users;
  recent_failures bigint;
  decision record;
  signing_key iam.signing_keys;
  claims jsonb;
  expires_at timestamptz := date_trunc('second', now()) + interval '1 hour';
BEGIN
  SELECT * INTO settings FROM iam.auth_settings;
  PERFORM iam.serialise_address(ip);
  SELECT * INTO account FROM iam.users u WHERE lower(u.email) = lower(given_email) FOR UPDATE;
  SELECT count(*) INTO recent_failures FROM iam.login_attempts a
   WHERE a.client_ip = ip AND NOT a.succeeded AND a.at > now() - interval '15 minutes';

  SELECT * INTO decision
    FROM iam.decide_login(password, account.user_id IS NOT NULL, account.password_hash, account.disabled_at IS NOT NULL,
                          account.failed_logins, account.failure_window_start, account.lock_count,
                          account.locked_until, recent_failures, settings.address_failure_limit, now());
  IF account.user_id IS NOT NULL THEN
    UPDATE iam.users u
       SET failed_logins = decision.failures, failure_window_start = decision.window_start,
           lock_count = decision.locks, locked_until = decision.locked_until,
           password_hash = coalesce(decision.new_password_hash, u.password_hash)
     WHERE u.user_id = account.user_id
       AND (u.failed_logins, u.failure_window_start, u.lock_count, u.locked_until, decision.new_password_hash)
           IS DISTINCT FROM (decision.failures, decision.window_start, decision.locks, decision.locked_until, NULL);
  END IF;

  INSERT INTO iam.login_attempts (email, user_id, client_ip, succeeded, reason)
  VALUES (given_email, account.user_id, ip, decision.reason = 'ok', decision.reason);

  IF decision.reason <> 'ok' THEN
    -- No exception: under PostgREST it would roll back the attempt row just written.
    PERFORM set_config('response.status', '401', true);
    RETURN jsonb_build_object('error', 'invalid_credentials',
                              'message', 'the email or password is wrong, or the account is locked',
                              'hint', 'Check both and try again; after 5 failures wait a minute.');
  END IF;

  SELECT * INTO STRICT signing_key FROM iam.signing_keys
   WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1;
  claims := jsonb_build_object(
    'role', 'expense_user', 'sub', account.user_id, 'org', account.org_id,
    'app_role', account.role, 'iat', extract(epoch FROM date_trunc('second', now()))::bigint,
    'exp', extract(epoch FROM expires_at)::bigint, 'jti', gen_random_uuid());
  RETURN jsonb_build_object(
    'token', iam.sign_token(claims, signing_key.kid, signing_key.secret),
    'token_type', 'bearer', 'expires_at', expires_at,
    'user_id', account.user_id, 'org_id', account.org_id, 'role', account.role);
END
$$;
COMMENT ON FUNCTION api.login(text, text) IS
$$Log in (POST /rpc/login). Returns {token, token_type, expires_at, user_id, org_id, role}; the token is an HS256 JWT valid for one hour with the claims role, sub, org, app_role, iat, exp and jti. A wrong password, an unknown email, an over-long password and a locked or disabled account all get HTTP 401 with the same body, after the same one argon2id computation. Every attempt is recorded in iam.login_attempts. Five failures within 15 minutes lock the account for 1 minute, doubling per lock up to 1 hour; 20 failures from one client address within 15 minutes refuse that address (see iam.auth_settings for how the address is found). An email of more than 320 characters is 400 (22001).$$;

CREATE FUNCTION api.logout() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
BEGIN
  IF claims->>'jti' IS NULL OR claims->>'sub' IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Send the token to revoke.';
  END IF;
  INSERT INTO iam.revoked_tokens (jti, user_id, expires_at)
  VALUES ((claims->>'jti')::uuid, (claims->>'sub')::uuid, to_timestamp((claims->>'exp')::bigint))
  ON CONFLICT (jti) DO NOTHING;
  -- Expired revocations serve no purpose.
  DELETE FROM iam.revoked_tokens WHERE expires_at < now() - interval '1 day';
END
$$;
COMMENT ON FUNCTION api.logout() IS 'Log out (POST /rpc/logout): revokes the current token''s jti, which api.pre_request() refuses from then on';

-- The kid of a token is checked on every request, so a retired key stops working at once,
-- without waiting for PostgREST to reload its jwt-secret.
CREATE FUNCTION iam.bearer_token_kid(headers jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  token text := substring(headers->>'authorization' FROM '^[Bb]earer +([A-Za-z0-9_.-]+) *$');
  header_segment text := split_part(token, '.', 1);
BEGIN
  IF token IS NULL THEN
    RETURN NULL;
  END IF;
  header_segment := translate(header_segment, '-_', '+/');
  header_segment := header_segment || repeat('=', (4 - length(header_segment) % 4) % 4);
  RETURN coalesce(convert_from(decode(header_segment, 'base64'), 'UTF8')::jsonb->>'kid', '');
EXCEPTION WHEN OTHERS THEN
  RETURN '';  -- a header that does not decode names no key: refused as unknown
END
$$;
COMMENT ON FUNCTION iam.bearer_token_kid(jsonb) IS
  'The kid in the JOSE header of the Authorization bearer token of request.headers; NULL without a bearer token, '''' when it names none';

CREATE FUNCTION api.pre_request() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  token_kid text;
  account record;
BEGIN
  BEGIN
    token_kid := iam.bearer_token_kid(nullif(current_setting('request.headers', true), '')::jsonb);
  EXCEPTION WHEN invalid_text_representation THEN
    token_kid := NULL;  -- request.headers is PostgREST's own JSON; anything else carries no token
  END;
  IF token_kid IS NOT NULL
     AND NOT EXISTS (SELECT FROM iam.signing_keys k WHERE k.kid = token_kid AND k.retired_at IS NULL) THEN
    RAISE EXCEPTION 'token signed with a retired or unknown key' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Log in again.';
  END IF;
  IF claims->>'sub' IS NULL THEN
    RETURN;  -- anonymous
  END IF;
  IF EXISTS (SELECT FROM iam.revoked_tokens WHERE jti = (claims->>'jti')::uuid) THEN
    RAISE EXCEPTION 'token revoked' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Log in again.';
  END IF;
  SELECT u.disabled_at, u.password_changed_at INTO account
    FROM iam.users u WHERE u.user_id = (claims->>'sub')::uuid;
  IF NOT FOUND OR account.disabled_at IS NOT NULL THEN
    RAISE EXCEPTION 'account disabled' USING ERRCODE = expense.sqlstate('unauthorized'), HINT = 'Ask an administrator.';
  END IF;
  -- iat has whole seconds; against the exact change instant, every token issued before the
  -- change is refused (and one issued later within the same second too: log in again).
  IF account.password_changed_at IS NOT NULL
     AND (claims->>'iat')::numeric < extract(epoch FROM account.password_changed_at) THEN
    RAISE EXCEPTION 'token issued before the last password change' USING ERRCODE = expense.sqlstate('unauthorized'),
      HINT = 'Log in again with the new password.';
  END IF;
END
$$;
COMMENT ON FUNCTION api.pre_request() IS
  'PostgREST''s db-pre-request: refuses (HTTP 401) tokens signed with a retired key (read from the Authorization header), revoked tokens, disabled users and tokens issued before the user''s last password change';

-- ---------------------------------------------------------------------------------------------
-- User administration. Admins act within their own organisation; everyone else gets 403, and
-- users of other organisations look missing (404).
--
-- Invitations do not create the user: the row appears when the invitation is accepted. An
-- admin inviting an address that already has an account in another organisation must learn
-- nothing from the answer, and with emails unique across organisations a user row made at
-- invitation time would have told them (409). So the invitation holds the future user, and its
-- user_id is reserved for it.

CREATE TABLE iam.invitations (
  invitation_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL,
  secret_hash   text NOT NULL,
  created_by    uuid NOT NULL,
  expires_at    timestamptz NOT NULL DEFAULT now() + interval '7 days',
  accepted_at   timestamptz,
  org_id        uuid NOT NULL REFERENCES expense.orgs,
  email         text NOT NULL,
  display_name  text NOT NULL,
  role          text NOT NULL,
  manager_id    uuid
);
CREATE INDEX invitations_pending_email ON iam.invitations (org_id, lower(email)) WHERE accepted_at IS NULL;
COMMENT ON TABLE iam.invitations IS
  'Invitations to join an organisation: the user row is created when the invitation is accepted. The code''s secret is kept only as an argon2id hash';
COMMENT ON COLUMN iam.invitations.invitation_id IS 'First part of the invitation code';
COMMENT ON COLUMN iam.invitations.user_id IS 'The user_id the invitee gets on acceptance (reserved at invitation)';
COMMENT ON COLUMN iam.invitations.secret_hash IS 'argon2id hash of the code''s secret part';
COMMENT ON COLUMN iam.invitations.created_by IS 'The admin who invited';
COMMENT ON COLUMN iam.invitations.expires_at IS 'The code works until then (7 days)';
COMMENT ON COLUMN iam.invitations.accepted_at IS 'When it was used; a code works once';
COMMENT ON COLUMN iam.invitations.org_id IS 'The inviting organisation';
COMMENT ON COLUMN iam.invitations.email IS 'The invitee''s email, their login name once accepted';
COMMENT ON COLUMN iam.invitations.display_name IS 'The invitee''s display name';
COMMENT ON COLUMN iam.invitations.role IS 'The application role the invitee gets';
COMMENT ON COLUMN iam.invitations.manager_id IS 'The invitee''s manager, from the same organisation';

-- The caller, who must be an admin; and a user of the caller's organisation.
CREATE FUNCTION iam.require_admin() RETURNS iam.users
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL;
  IF me.user_id IS NULL OR me.role <> 'admin' THEN
    RAISE EXCEPTION 'only an admin manages users' USING ERRCODE = expense.sqlstate('forbidden'), HINT = 'Ask an administrator.';
  END IF;
  RETURN me;
END
$$;
COMMENT ON FUNCTION iam.require_admin() IS 'The calling admin''s user row; 42501 for anyone else';

CREATE FUNCTION iam.user_of_org(user_id uuid, org_id uuid) RETURNS iam.users
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found iam.users;
BEGIN
  SELECT * INTO found FROM iam.users u WHERE u.user_id = user_of_org.user_id AND u.org_id = user_of_org.org_id
     FOR UPDATE;
  IF found.user_id IS NULL THEN
    RAISE EXCEPTION 'user_id: no user % in your organisation', user_id USING ERRCODE = expense.sqlstate('not_found');
  END IF;
  RETURN found;
END
$$;
COMMENT ON FUNCTION iam.user_of_org(uuid, uuid) IS 'A user of the given organisation, locked; 404 otherwise';

CREATE FUNCTION api.create_user(email text, display_name text, role text DEFAULT 'employee',
                                manager_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users := iam.require_admin();
  secret text := rtrim(translate(encode(iam.random_bytes(24), 'base64'), '+/', '-_'), '=');
  invitee_email text := btrim(expense.bounded_text('email', email, 320));
  invitee_name text := btrim(expense.bounded_text('display_name', display_name, 200));
  invitation iam.invitations;
BEGIN
  IF invitee_email IS NULL OR invitee_email !~ '^[^@\s]+@[^@\s]+$' THEN
    RAISE EXCEPTION 'email: "%" is not an email address', invitee_email USING ERRCODE = expense.sqlstate('check_violation'),
      HINT = 'Give an address such as jane@example.com.';
  END IF;
  IF invitee_name IS NULL OR invitee_name = '' THEN
    RAISE EXCEPTION 'display_name: a name is required' USING ERRCODE = expense.sqlstate('check_violation'), HINT = 'Give the name others see.';
  END IF;
  IF role IS NULL OR role NOT IN ('employee', 'manager', 'finance', 'support', 'admin') THEN
    RAISE EXCEPTION 'role: "%" is not an application role', role USING ERRCODE = expense.sqlstate('check_violation'),
      HINT = 'Use employee, manager, finance, support or admin.';
  END IF;
  IF manager_id IS NOT NULL THEN
    PERFORM iam.user_of_org(manager_id, me.org_id);
  END IF;
  -- Only the admin's own organisation is looked at: whether the address has an account
  -- elsewhere stays unknown to them.
  IF EXISTS (SELECT FROM iam.users u WHERE u.org_id = me.org_id AND lower(u.email) = lower(invitee_email))
     OR EXISTS (SELECT FROM iam.invitations i
                 WHERE i.org_id = me.org_id AND lower(i.email) = lower(invitee_email)
                   AND i.accepted_at IS NULL AND i.expires_at > now()) THEN
    RAISE EXCEPTION 'email: % already has an account or a pending invitation in your organisation', invitee_email
      USING ERRCODE = expense.sqlstate('unique_violation'), HINT = 'Use that account, or wait until the invitation expires.';
  END IF;
  INSERT INTO iam.invitations (user_id, org_id, email, display_name, role, manager_id, secret_hash, created_by)
  VALUES (gen_random_uuid(), me.org_id, invitee_email, invitee_name, role, manager_id, iam.rehash_password(secret),
          me.user_id)
  RETURNING * INTO invitation;
  RETURN jsonb_build_object('user_id', invitation.user_id, 'email', invitation.email, 'role', invitation.role,
                            'invitation_code', invitation.invitation_id || '.' || secret,
                            'invitation_expires_at', invitation.expires_at);
END
$$;
COMMENT ON FUNCTION api.create_user(text, text, text, uuid) IS
  'Admins invite a user into their organisation (POST /rpc/create_user). Returns the user_id the user will have and a one-time invitation_code, valid 7 days, which api.accept_invitation exchanges for the account and a first password. 409 only when the email is taken in the admin''s own organisation';

CREATE FUNCTION api.accept_invitation(code text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  invitation iam.invitations;
  invitee iam.users;
BEGIN
  BEGIN
    SELECT * INTO invitation FROM iam.invitations i
     WHERE i.invitation_id = split_part(expense.bounded_text('code', code, 200), '.', 1)::uuid FOR UPDATE;
  EXCEPTION WHEN invalid_text_representation THEN
    invitation := NULL;
  END;
  IF invitation.invitation_id IS NULL OR invitation.accepted_at IS NOT NULL OR invitation.expires_at < now()
     OR iam.verify_password(split_part(code, '.', 2), invitation.secret_hash) = 'mismatch' THEN
    RAISE EXCEPTION 'code: the invitation code is wrong, used or expired' USING ERRCODE = expense.sqlstate('invalid_credentials'),
      HINT = 'Ask your administrator for a new invitation.';
  END IF;
  SELECT * INTO invitee FROM iam.users u WHERE u.user_id = invitation.user_id FOR UPDATE;
  IF invitee.user_id IS NOT NULL THEN
    -- Invited before 0.4.0, when the user row came first. A first password leaves
    -- password_changed_at alone: no earlier token exists to end.
    UPDATE iam.users u SET password_hash = iam.hash_password(password)
     WHERE u.user_id = invitation.user_id RETURNING * INTO invitee;
  ELSE
    BEGIN
      INSERT INTO iam.users (user_id, org_id, email, display_name, role, manager_id, password_hash)
      VALUES (invitation.user_id, invitation.org_id, invitation.email, invitation.display_name, invitation.role,
              (SELECT u.user_id FROM iam.users u
                WHERE u.user_id = invitation.manager_id AND u.org_id = invitation.org_id),
              iam.hash_password(password))
      RETURNING * INTO invitee;
    EXCEPTION WHEN unique_violation THEN
      RAISE EXCEPTION 'email: % already has an account', invitation.email USING ERRCODE = expense.sqlstate('unique_violation'),
        HINT = 'Log in with that account, or ask your administrator to invite another address.';
    END;
  END IF;
  UPDATE iam.invitations i SET accepted_at = now() WHERE i.invitation_id = invitation.invitation_id;
  RETURN jsonb_build_object('user_id', invitee.user_id, 'email', invitee.email);
END
$$;
COMMENT ON FUNCTION api.accept_invitation(text, text) IS
  'Creates the invited account with its first password (POST /rpc/accept_invitation); the code works once. Then log in with api.login';

CREATE FUNCTION api.set_user_role(user_id uuid, role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users := iam.require_admin();
BEGIN
  PERFORM iam.user_of_org(user_id, me.org_id);
  UPDATE iam.users u SET role = set_user_role.role WHERE u.user_id = set_user_role.user_id;
END
$$;
COMMENT ON FUNCTION api.set_user_role(uuid, text) IS
  'Admins set a user''s application role (employee, manager, finance, support, admin); policies read it at once';

CREATE FUNCTION api.set_user_manager(user_id uuid, manager_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users := iam.require_admin();
BEGIN
  PERFORM iam.user_of_org(user_id, me.org_id);
  IF manager_id IS NOT NULL THEN
    PERFORM iam.user_of_org(manager_id, me.org_id);
  END IF;
  UPDATE iam.users u SET manager_id = set_user_manager.manager_id WHERE u.user_id = set_user_manager.user_id;
END
$$;
COMMENT ON FUNCTION api.set_user_manager(uuid, uuid) IS 'Admins set (or clear, with NULL) a user''s manager, from the same organisation';

CREATE FUNCTION api.deactivate_user(user_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users := iam.require_admin();
BEGIN
  IF user_id = me.user_id THEN
    RAISE EXCEPTION 'user_id: admins cannot deactivate themselves' USING ERRCODE = expense.sqlstate('wrong_status'),
      HINT = 'Ask another admin.';
  END IF;
  PERFORM iam.user_of_org(user_id, me.org_id);
  UPDATE iam.users u SET disabled_at = coalesce(u.disabled_at, now()) WHERE u.user_id = deactivate_user.user_id;
END
$$;
COMMENT ON FUNCTION api.deactivate_user(uuid) IS
  'Admins deactivate a user: logins are refused and api.pre_request() refuses their tokens from now on';

-- A wrong old password is a guess like a failed login: it counts towards the account's lockout,
-- is recorded, and is answered without an exception so that the count commits.
CREATE FUNCTION api.change_password(old_password text, new_password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users;
  decision record;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL FOR UPDATE;
  IF me.user_id IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = expense.sqlstate('unauthorized');
  END IF;
  SELECT * INTO decision
    FROM iam.decide_login(old_password, true, me.password_hash, false, me.failed_logins, me.failure_window_start,
                          me.lock_count, me.locked_until, 0, NULL, now());
  IF decision.reason <> 'ok' THEN
    UPDATE iam.users u
       SET failed_logins = decision.failures, failure_window_start = decision.window_start,
           lock_count = decision.locks, locked_until = decision.locked_until
     WHERE u.user_id = me.user_id;
    INSERT INTO iam.login_attempts (email, user_id, client_ip, succeeded, reason, via)
    VALUES (me.email, me.user_id, iam.client_ip(), false, decision.reason, 'change_password');
    PERFORM set_config('response.status', '403', true);
    RETURN jsonb_build_object('error', 'invalid_credentials',
                              'message', 'old_password: the current password is wrong, or the account is locked',
                              'hint', 'Enter the password you log in with now; after 5 failures wait a minute.');
  END IF;
  UPDATE iam.users u
     SET password_hash = iam.hash_password(new_password), password_changed_at = now(), failed_logins = 0,
         failure_window_start = NULL, lock_count = 0, locked_until = NULL
   WHERE u.user_id = me.user_id;
  RETURN jsonb_build_object('user_id', me.user_id, 'password_changed_at', now());
END
$$;
COMMENT ON FUNCTION api.change_password(text, text) IS
  'Users change their own password, giving the old one (POST /rpc/change_password). A wrong old password answers 403 and counts towards the account''s lockout like a failed login; while locked even the right one is refused. Tokens issued before the change stop working; log in again';

-- ---------------------------------------------------------------------------------------------
-- Privileges. Nothing here is executable by PUBLIC. The API roles call the api functions, and
-- as the caller the few others that row-level security, the views and the INSTEAD OF triggers
-- call; expense_ops_admin manages the signing keys and the staff.

REVOKE ALL ON FUNCTION expense.bounded_text(text, text, integer), expense.is_currency(text),
  expense.currency_table_edition(), expense.is_time_zone(text), iam.hash_password(text),
  iam.rehash_password(text), iam.verify_password(text, text), iam.sign_token(jsonb, text, bytea),
  iam.random_bytes(integer), iam.resolve_client_address(text, text, text),
  iam.decide_login(text, boolean, text, boolean, integer, timestamptz, integer, timestamptz, bigint, integer, timestamptz),
  iam.current_user_id(), iam.current_account(), iam.can_see_expenses_of(uuid), iam.caller_has_role(uuid, text[]),
  iam.forget_caller(), iam.set_staff(uuid, boolean), iam.rotate_signing_key(), iam.retire_signing_key(text), iam.postgrest_jwks(),
  iam.client_ip(), iam.serialise_address(inet), api.login(text, text), api.logout(), iam.bearer_token_kid(jsonb),
  api.pre_request(), iam.require_admin(), iam.user_of_org(uuid, uuid), api.create_user(text, text, text, uuid),
  api.accept_invitation(text, text), api.set_user_role(uuid, text), api.set_user_manager(uuid, uuid),
  api.deactivate_user(uuid), api.change_password(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.login(text, text), api.pre_request(), api.accept_invitation(text, text)
  TO expense_anon, expense_user;
GRANT EXECUTE ON FUNCTION api.logout(), api.create_user(text, text, text, uuid), api.set_user_role(uuid, text),
  api.set_user_manager(uuid, uuid), api.deactivate_user(uuid), api.change_password(text, text) TO expense_user;
-- Called as the caller by policies, views and INSTEAD OF triggers.
GRANT EXECUTE ON FUNCTION expense.bounded_text(text, text, integer), expense.is_currency(text),
  expense.is_time_zone(text), iam.current_user_id(), iam.current_account(), iam.can_see_expenses_of(uuid),
  iam.caller_has_role(uuid, text[]) TO expense_user;
GRANT EXECUTE ON FUNCTION iam.rotate_signing_key(), iam.retire_signing_key(text), iam.postgrest_jwks(),
  iam.set_staff(uuid, boolean), expense.currency_table_edition() TO expense_ops_admin;
-- The api views' filters, read by staff in psql too.
GRANT EXECUTE ON FUNCTION iam.current_user_id(), iam.current_account() TO expense_ops_admin;

-- pg_dump leaves an extension's tables out unless they are marked as configuration.
SELECT pg_catalog.pg_extension_config_dump('expense.orgs', '');
SELECT pg_catalog.pg_extension_config_dump('iam.users', '');
SELECT pg_catalog.pg_extension_config_dump('iam.signing_keys', '');
SELECT pg_catalog.pg_extension_config_dump('iam.login_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('iam.revoked_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('iam.auth_settings', '');
SELECT pg_catalog.pg_extension_config_dump('iam.invitations', '');
