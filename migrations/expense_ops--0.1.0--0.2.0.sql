-- expense_ops 0.1.0 -> 0.2.0: tenants and identity. Login issues HS256 JWTs that PostgREST
-- accepts; failed logins are recorded and throttled; tokens can be revoked.
\echo Use "ALTER EXTENSION expense_ops UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Primitives in C++ (extension/pg/identity.cpp, rules in extension/core). None is callable by
-- the API roles: they run inside the SECURITY DEFINER functions below.

CREATE FUNCTION expense.is_currency(code text) RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_is_currency';
COMMENT ON FUNCTION expense.is_currency(text) IS
  'True for an active ISO 4217 currency code (upper case), from the table compiled into expense_ops';

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

CREATE FUNCTION iam.spend_password_verification(password text) RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_spend_password_verification';
COMMENT ON FUNCTION iam.spend_password_verification(text) IS
  'Costs what a password check costs and decides nothing: unknown and locked accounts answer as slowly as wrong passwords';

CREATE FUNCTION iam.sign_token(claims jsonb, kid text, secret bytea) RETURNS text
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_sign_token';
COMMENT ON FUNCTION iam.sign_token(jsonb, text, bytea) IS 'HS256 JWT of the claims, with kid in its header';

CREATE FUNCTION iam.random_bytes(count integer) RETURNS bytea
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'expense_ops_random_bytes';
COMMENT ON FUNCTION iam.random_bytes(integer) IS 'count (1 to 1024) bytes from OpenSSL''s random generator';

CREATE FUNCTION iam.lockout_after_failure(
  failures integer, window_start timestamptz, locks integer, locked_until timestamptz, at timestamptz,
  OUT failures integer, OUT window_start timestamptz, OUT locks integer, OUT locked_until timestamptz)
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_lockout_after_failure';
COMMENT ON FUNCTION iam.lockout_after_failure(integer, timestamptz, integer, timestamptz, timestamptz) IS
  'An account''s lockout state after a failed login: 5 failures in 15 minutes lock it for 1 minute, doubling per lock up to 1 hour';

REVOKE ALL ON FUNCTION iam.hash_password(text), iam.rehash_password(text), iam.verify_password(text, text),
  iam.spend_password_verification(text), iam.sign_token(jsonb, text, bytea), iam.random_bytes(integer),
  iam.lockout_after_failure(integer, timestamptz, integer, timestamptz, timestamptz) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Tenants and users

CREATE TABLE expense.orgs (
  org_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL CHECK (btrim(name) <> ''),
  base_currency text NOT NULL CHECK (expense.is_currency(base_currency)),
  time_zone     text NOT NULL DEFAULT 'UTC' CHECK (expense.is_time_zone(time_zone)),
  created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE expense.orgs IS 'Organisations: the tenants. Every domain row carries its org_id';
COMMENT ON COLUMN expense.orgs.org_id IS 'The tenant key, and the distribution column under Citus';
COMMENT ON COLUMN expense.orgs.name IS 'Display name';
COMMENT ON COLUMN expense.orgs.base_currency IS 'ISO 4217 code that reports and limits are kept in';
COMMENT ON COLUMN expense.orgs.time_zone IS 'IANA time zone that dates such as "today" are judged in';
COMMENT ON COLUMN expense.orgs.created_at IS 'When the organisation was created';

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
  UNIQUE (org_id, user_id),
  -- A manager belongs to the same organisation as the people they manage.
  FOREIGN KEY (org_id, manager_id) REFERENCES iam.users (org_id, user_id),
  CHECK (manager_id <> user_id)
);
CREATE UNIQUE INDEX users_email_key ON iam.users (lower(email));
CREATE INDEX users_manager ON iam.users (manager_id) WHERE manager_id IS NOT NULL;
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
    RAISE EXCEPTION 'no signing key "%" is in use', kid USING ERRCODE = '22023',
      HINT = 'SELECT kid FROM iam.postgrest_jwks() lists the keys in use.';
  END IF;
  IF (SELECT count(*) FROM iam.signing_keys WHERE retired_at IS NULL) = 1 THEN
    RAISE EXCEPTION 'signing key "%" is the last one in use', kid USING ERRCODE = '55000',
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

REVOKE ALL ON FUNCTION iam.rotate_signing_key(), iam.retire_signing_key(text), iam.postgrest_jwks() FROM PUBLIC;
GRANT USAGE ON SCHEMA iam TO expense_ops_admin;
GRANT EXECUTE ON FUNCTION iam.rotate_signing_key(), iam.retire_signing_key(text), iam.postgrest_jwks()
  TO expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- Login attempts and revoked tokens

CREATE TABLE iam.login_attempts (
  attempt_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  email      text NOT NULL,
  user_id    uuid,
  client_ip  inet,
  succeeded  boolean NOT NULL,
  reason     text NOT NULL
             CHECK (reason IN ('ok', 'unknown_email', 'no_password', 'wrong_password', 'locked',
                               'disabled', 'ip_throttled'))
);
COMMENT ON SEQUENCE iam.login_attempts_attempt_id_seq IS 'Numbers iam.login_attempts';
CREATE INDEX login_attempts_ip ON iam.login_attempts (client_ip, at) WHERE NOT succeeded;
CREATE INDEX login_attempts_user ON iam.login_attempts (user_id, at);
COMMENT ON TABLE iam.login_attempts IS 'Every login attempt, failed ones included; the caller only ever learns "invalid credentials"';
COMMENT ON COLUMN iam.login_attempts.attempt_id IS 'Sequence number';
COMMENT ON COLUMN iam.login_attempts.at IS 'When the attempt was made';
COMMENT ON COLUMN iam.login_attempts.email IS 'The email as given';
COMMENT ON COLUMN iam.login_attempts.user_id IS 'The account it named, if any';
COMMENT ON COLUMN iam.login_attempts.client_ip IS 'First x-forwarded-for address under PostgREST, else the connection''s client address';
COMMENT ON COLUMN iam.login_attempts.succeeded IS 'Whether a token was issued';
COMMENT ON COLUMN iam.login_attempts.reason IS 'ok, unknown_email, no_password, wrong_password, locked, disabled or ip_throttled';

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

GRANT SELECT ON iam.login_attempts TO expense_ops_admin;
GRANT SELECT (user_id, org_id, email, display_name, role, manager_id, disabled_at, locked_until, created_at)
  ON iam.users TO expense_ops_admin;

-- pg_dump leaves an extension's tables out unless they are marked as configuration.
SELECT pg_catalog.pg_extension_config_dump('expense.orgs', '');
SELECT pg_catalog.pg_extension_config_dump('iam.users', '');
SELECT pg_catalog.pg_extension_config_dump('iam.signing_keys', '');
SELECT pg_catalog.pg_extension_config_dump('iam.login_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('iam.revoked_tokens', '');

-- ---------------------------------------------------------------------------------------------
-- Login, logout, and the check PostgREST runs before every request

-- The caller's address: the first x-forwarded-for hop under PostgREST, else the socket's peer.
CREATE FUNCTION iam.client_ip() RETURNS inet
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  forwarded text;
BEGIN
  BEGIN
    forwarded := nullif(btrim(split_part(
      nullif(current_setting('request.headers', true), '')::json->>'x-forwarded-for', ',', 1)), '');
    IF forwarded IS NOT NULL THEN
      RETURN forwarded::inet;
    END IF;
  EXCEPTION WHEN invalid_text_representation THEN
    -- Headers that are not JSON, or a forwarded address that is not one, count as no address.
    RETURN NULL;
  END;
  RETURN inet_client_addr();
END
$$;
COMMENT ON FUNCTION iam.client_ip() IS
  'The client address: first x-forwarded-for entry of request.headers, else inet_client_addr()';
REVOKE ALL ON FUNCTION iam.client_ip() FROM PUBLIC;

CREATE FUNCTION api.login(email text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  account iam.users;
  ip inet := iam.client_ip();
  verdict text;
  reason text;
  lockout record;
  signing_key iam.signing_keys;
  claims jsonb;
  expires_at timestamptz := date_trunc('second', now()) + interval '1 hour';
BEGIN
  SELECT * INTO account FROM iam.users u WHERE lower(u.email) = lower(login.email) FOR UPDATE;

  IF account.user_id IS NULL THEN
    reason := 'unknown_email';
  ELSIF account.password_hash IS NULL THEN
    reason := 'no_password';
  ELSIF account.disabled_at IS NOT NULL THEN
    reason := 'disabled';
  ELSIF account.locked_until > now() THEN
    reason := 'locked';
  ELSIF ip IS NOT NULL AND (SELECT count(*) FROM iam.login_attempts a
                             WHERE a.client_ip = ip AND NOT a.succeeded
                               AND a.at > now() - interval '15 minutes') >= 20 THEN
    reason := 'ip_throttled';
  END IF;

  IF reason IS NOT NULL THEN
    -- Every refusal costs what a password check costs, so timing tells nothing.
    PERFORM iam.spend_password_verification(password);
  ELSE
    verdict := iam.verify_password(coalesce(password, ''), account.password_hash);
    IF verdict = 'mismatch' THEN
      reason := 'wrong_password';
      SELECT * INTO lockout
        FROM iam.lockout_after_failure(account.failed_logins, account.failure_window_start,
                                       account.lock_count, account.locked_until, now());
      UPDATE iam.users u
         SET failed_logins = lockout.failures, failure_window_start = lockout.window_start,
             lock_count = lockout.locks, locked_until = lockout.locked_until
       WHERE u.user_id = account.user_id;
    ELSE
      UPDATE iam.users u
         SET failed_logins = 0, failure_window_start = NULL, lock_count = 0, locked_until = NULL,
             password_hash = CASE WHEN verdict = 'rehash' THEN iam.rehash_password(password)
                                  ELSE u.password_hash END
       WHERE u.user_id = account.user_id;
    END IF;
  END IF;

  INSERT INTO iam.login_attempts (email, user_id, client_ip, succeeded, reason)
  VALUES (coalesce(login.email, ''), account.user_id, ip, reason IS NULL, coalesce(reason, 'ok'));

  IF reason IS NOT NULL THEN
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
$$Log in (POST /rpc/login). Returns {token, token_type, expires_at, user_id, org_id, role}; the token is an HS256 JWT valid for one hour with the claims role, sub, org, app_role, iat, exp and jti. A wrong password, an unknown email and a locked or disabled account all get HTTP 401 with the same body, after the same work. Every attempt is recorded in iam.login_attempts. Five failures within 15 minutes lock the account for 1 minute, doubling per lock up to 1 hour; 20 failures from one address within 15 minutes refuse that address.$$;

CREATE FUNCTION api.logout() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
BEGIN
  IF claims->>'jti' IS NULL OR claims->>'sub' IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = 'PT401', HINT = 'Send the token to revoke.';
  END IF;
  INSERT INTO iam.revoked_tokens (jti, user_id, expires_at)
  VALUES ((claims->>'jti')::uuid, (claims->>'sub')::uuid, to_timestamp((claims->>'exp')::bigint))
  ON CONFLICT (jti) DO NOTHING;
  -- Expired revocations serve no purpose.
  DELETE FROM iam.revoked_tokens WHERE expires_at < now() - interval '1 day';
END
$$;
COMMENT ON FUNCTION api.logout() IS 'Log out (POST /rpc/logout): revokes the current token''s jti, which api.pre_request() refuses from then on';

CREATE FUNCTION api.pre_request() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  account record;
BEGIN
  IF claims->>'sub' IS NULL THEN
    RETURN;  -- anonymous
  END IF;
  IF EXISTS (SELECT FROM iam.revoked_tokens WHERE jti = (claims->>'jti')::uuid) THEN
    RAISE EXCEPTION 'token revoked' USING ERRCODE = 'PT401', HINT = 'Log in again.';
  END IF;
  SELECT u.disabled_at, u.password_changed_at INTO account
    FROM iam.users u WHERE u.user_id = (claims->>'sub')::uuid;
  IF NOT FOUND OR account.disabled_at IS NOT NULL THEN
    RAISE EXCEPTION 'account disabled' USING ERRCODE = 'PT401', HINT = 'Ask an administrator.';
  END IF;
  -- iat has whole seconds; against the exact change instant, every token issued before the
  -- change is refused (and one issued later within the same second too: log in again).
  IF account.password_changed_at IS NOT NULL
     AND (claims->>'iat')::numeric < extract(epoch FROM account.password_changed_at) THEN
    RAISE EXCEPTION 'token issued before the last password change' USING ERRCODE = 'PT401',
      HINT = 'Log in again with the new password.';
  END IF;
END
$$;
COMMENT ON FUNCTION api.pre_request() IS
  'PostgREST''s db-pre-request: refuses (HTTP 401) revoked tokens, disabled users and tokens issued before the user''s last password change';

REVOKE ALL ON FUNCTION api.login(text, text), api.logout(), api.pre_request() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.login(text, text) TO expense_anon, expense_user;
GRANT EXECUTE ON FUNCTION api.logout() TO expense_user;
GRANT EXECUTE ON FUNCTION api.pre_request() TO expense_anon, expense_user;

-- ---------------------------------------------------------------------------------------------
-- Expenses: categories with their policies, exchange rates, expenses and their audit trail.
-- Money is bigint minor units plus an ISO 4217 code; api.expenses shows it as numeric.

ALTER TABLE expense.orgs
  ADD COLUMN second_approval_threshold bigint NOT NULL DEFAULT 100000
    CHECK (second_approval_threshold > 0);
COMMENT ON COLUMN expense.orgs.second_approval_threshold IS
  'Expenses above this base-currency amount (minor units) need a second approval, by finance';

CREATE TABLE expense.categories (
  category_id       uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  org_id            uuid NOT NULL REFERENCES expense.orgs,
  name              text NOT NULL CHECK (btrim(name) <> ''),
  active            boolean NOT NULL DEFAULT true,
  per_item_limit    bigint CHECK (per_item_limit > 0),
  per_day_limit     bigint CHECK (per_day_limit > 0),
  receipt_threshold bigint NOT NULL DEFAULT 2500 CHECK (receipt_threshold >= 0),
  max_age_days      integer NOT NULL DEFAULT 90 CHECK (max_age_days BETWEEN 1 AND 3650),
  UNIQUE (org_id, category_id),
  UNIQUE (org_id, name)
);
COMMENT ON TABLE expense.categories IS 'Expense categories of an organisation, each with its policy';
COMMENT ON COLUMN expense.categories.category_id IS 'Key';
COMMENT ON COLUMN expense.categories.org_id IS 'The organisation';
COMMENT ON COLUMN expense.categories.name IS 'Name, unique within the organisation';
COMMENT ON COLUMN expense.categories.active IS 'New expenses may only use active categories';
COMMENT ON COLUMN expense.categories.per_item_limit IS 'Largest single expense, base-currency minor units; NULL for none';
COMMENT ON COLUMN expense.categories.per_day_limit IS 'Largest total per user and day, base-currency minor units; NULL for none';
COMMENT ON COLUMN expense.categories.receipt_threshold IS 'Above this base-currency amount a receipt is required before submission';
COMMENT ON COLUMN expense.categories.max_age_days IS 'Expenses older than this many days (in the organisation''s time zone) are refused';

CREATE TABLE expense.exchange_rates (
  org_id     uuid NOT NULL REFERENCES expense.orgs,
  currency   text NOT NULL CHECK (expense.is_currency(currency)),
  valid_from date NOT NULL,
  rate       numeric NOT NULL CHECK (rate > 0),
  PRIMARY KEY (org_id, currency, valid_from)
);
COMMENT ON TABLE expense.exchange_rates IS
  'Units of the organisation''s base currency per unit of currency, valid from valid_from until the next row';
COMMENT ON COLUMN expense.exchange_rates.org_id IS 'The organisation';
COMMENT ON COLUMN expense.exchange_rates.currency IS 'The foreign currency';
COMMENT ON COLUMN expense.exchange_rates.valid_from IS 'First day the rate applies';
COMMENT ON COLUMN expense.exchange_rates.rate IS 'Base-currency units per unit of currency';

CREATE TABLE expense.expenses (
  expense_id          uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  org_id              uuid NOT NULL REFERENCES expense.orgs,
  user_id             uuid NOT NULL,
  category_id         uuid NOT NULL,
  expense_date        date NOT NULL,
  merchant            text NOT NULL CHECK (btrim(merchant) <> '' AND length(merchant) <= 200),
  description         text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  amount_minor        bigint NOT NULL,
  currency            text NOT NULL,
  receipt_ref         text CHECK (length(receipt_ref) <= 500),
  status              text NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'submitted', 'approved', 'reimbursed', 'rejected')),
  exchange_rate       numeric,
  base_amount_minor   bigint,
  submitted_at        timestamptz,
  first_approved_by   uuid,
  first_approved_at   timestamptz,
  second_approved_by  uuid,
  second_approved_at  timestamptz,
  rejected_by         uuid,
  rejection_reason    text,
  reimbursed_by       uuid,
  reimbursed_at       timestamptz,
  duplicate_of        uuid,
  duplicate_confirmed_at timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (org_id, user_id) REFERENCES iam.users (org_id, user_id),
  FOREIGN KEY (org_id, category_id) REFERENCES expense.categories (org_id, category_id)
);
CREATE INDEX expenses_user ON expense.expenses (org_id, user_id, expense_date);
COMMENT ON TABLE expense.expenses IS 'Expenses. Rules run in C++ (trigger expense_rules); api.expenses is the view PostgREST serves';
COMMENT ON COLUMN expense.expenses.expense_id IS 'Key';
COMMENT ON COLUMN expense.expenses.org_id IS 'The organisation (the owner''s)';
COMMENT ON COLUMN expense.expenses.user_id IS 'The owner, who spent the money';
COMMENT ON COLUMN expense.expenses.category_id IS 'Category, whose policy applies';
COMMENT ON COLUMN expense.expenses.expense_date IS 'When the money was spent; not in the future and not older than the policy allows';
COMMENT ON COLUMN expense.expenses.merchant IS 'Who was paid';
COMMENT ON COLUMN expense.expenses.description IS 'What for';
COMMENT ON COLUMN expense.expenses.amount_minor IS 'Amount in minor units of currency, above zero';
COMMENT ON COLUMN expense.expenses.currency IS 'ISO 4217 code';
COMMENT ON COLUMN expense.expenses.receipt_ref IS 'Reference to the receipt (a document id or URL)';
COMMENT ON COLUMN expense.expenses.status IS 'draft, submitted, approved, reimbursed or rejected';
COMMENT ON COLUMN expense.expenses.exchange_rate IS 'Rate frozen at submission';
COMMENT ON COLUMN expense.expenses.base_amount_minor IS 'Amount in base-currency minor units, frozen at submission';
COMMENT ON COLUMN expense.expenses.submitted_at IS 'When it was last submitted';
COMMENT ON COLUMN expense.expenses.first_approved_by IS 'Who approved it (first approver above the threshold)';
COMMENT ON COLUMN expense.expenses.first_approved_at IS 'When';
COMMENT ON COLUMN expense.expenses.second_approved_by IS 'Finance''s second approval, above the organisation''s threshold';
COMMENT ON COLUMN expense.expenses.second_approved_at IS 'When';
COMMENT ON COLUMN expense.expenses.rejected_by IS 'Who rejected it last';
COMMENT ON COLUMN expense.expenses.rejection_reason IS 'Why';
COMMENT ON COLUMN expense.expenses.reimbursed_by IS 'Who in finance reimbursed it';
COMMENT ON COLUMN expense.expenses.reimbursed_at IS 'When';
COMMENT ON COLUMN expense.expenses.duplicate_of IS 'Set when submission found a likely duplicate; the expense waits in draft';
COMMENT ON COLUMN expense.expenses.duplicate_confirmed_at IS 'When the owner confirmed it is not a duplicate (api.confirm_not_duplicate)';
COMMENT ON COLUMN expense.expenses.created_at IS 'When it was created';
COMMENT ON COLUMN expense.expenses.updated_at IS 'When it last changed';

CREATE FUNCTION expense.enforce_expense_rules() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_enforce_expense_rules';
COMMENT ON FUNCTION expense.enforce_expense_rules() IS
  'BEFORE INSERT OR UPDATE on expense.expenses: currency and amount, date against today in the organisation''s time zone and the category''s maximum age, and an active category of the same organisation';
CREATE TRIGGER expense_rules BEFORE INSERT OR UPDATE ON expense.expenses
  FOR EACH ROW EXECUTE FUNCTION expense.enforce_expense_rules();

-- The rules trigger caches organisations and categories per backend; a change to either must
-- reach every backend. This trigger sends the invalidation, delivered at commit.
CREATE FUNCTION expense.invalidate_policy_cache() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'expense_ops_invalidate_policy_cache';
COMMENT ON FUNCTION expense.invalidate_policy_cache() IS
  'AFTER change on expense.orgs or expense.categories: tells every backend to drop its cached policies';
CREATE TRIGGER policy_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON expense.orgs
  FOR EACH STATEMENT EXECUTE FUNCTION expense.invalidate_policy_cache();
CREATE TRIGGER policy_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON expense.categories
  FOR EACH STATEMENT EXECUTE FUNCTION expense.invalidate_policy_cache();

SELECT pg_catalog.pg_extension_config_dump('expense.categories', '');
SELECT pg_catalog.pg_extension_config_dump('expense.exchange_rates', '');
SELECT pg_catalog.pg_extension_config_dump('expense.expenses', '');

CREATE FUNCTION expense.to_minor_units(amount numeric, currency text) RETURNS bigint
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_to_minor_units';
COMMENT ON FUNCTION expense.to_minor_units(numeric, text) IS
  'An amount as minor units of its currency; refuses an unknown currency (22X01), more decimals than it has (22X03), amounts <= 0 (22X04) and absurd ones (22X05)';
CREATE FUNCTION expense.to_amount(minor_units bigint, currency text) RETURNS numeric
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_to_amount';
COMMENT ON FUNCTION expense.to_amount(bigint, text) IS
  'Minor units as a numeric with exactly the currency''s decimals: 1230 EUR is 12.30, 1500 JPY is 1500';

-- ---------------------------------------------------------------------------------------------
-- Who is calling. Read from the caller's user row, never from claims beyond the user id.

CREATE FUNCTION iam.current_user_id() RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN (nullif(current_setting('request.jwt.claims', true), '')::jsonb->>'sub')::uuid;
END
$$;
COMMENT ON FUNCTION iam.current_user_id() IS 'The calling user: the sub claim of the request, or NULL';

-- PL/pgSQL rather than SQL: a SECURITY DEFINER SQL function is never inlined and plans its
-- query on every call, while PL/pgSQL keeps the plan for the session. Row-level security
-- calls these for every write.
CREATE FUNCTION iam.current_account(OUT user_id uuid, OUT org_id uuid, OUT role text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  SELECT u.user_id, u.org_id, u.role INTO user_id, org_id, role FROM iam.users u
   WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL;
END
$$;
COMMENT ON FUNCTION iam.current_account() IS
  'The calling user''s id, organisation and application role, from their user row (no row for anonymous or disabled callers)';

CREATE FUNCTION iam.can_see_expenses_of(owner uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (
    SELECT FROM iam.users me JOIN iam.users them ON them.org_id = me.org_id
     WHERE me.user_id = iam.current_user_id() AND me.disabled_at IS NULL AND them.user_id = owner
       AND (them.user_id = me.user_id OR me.role IN ('finance', 'admin')
            OR them.manager_id = me.user_id));
END
$$;
COMMENT ON FUNCTION iam.can_see_expenses_of(uuid) IS
  'Whether the caller may see the owner''s expenses: their own, their reports'', or the whole organisation''s for finance and admin; never another organisation''s';

REVOKE ALL ON FUNCTION iam.current_user_id(), iam.current_account(), iam.can_see_expenses_of(uuid) FROM PUBLIC;
GRANT USAGE ON SCHEMA iam, expense TO expense_user;
GRANT EXECUTE ON FUNCTION iam.current_user_id(), iam.current_account(), iam.can_see_expenses_of(uuid),
  expense.to_minor_units(numeric, text), expense.to_amount(bigint, text), expense.is_currency(text)
  TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- Row-level security: enforced in the database for every path, the API's view included.

ALTER TABLE expense.orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON expense.orgs FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()));
GRANT SELECT ON expense.orgs TO expense_user;

ALTER TABLE expense.categories ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON expense.categories FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()));
GRANT SELECT ON expense.categories TO expense_user;

ALTER TABLE expense.exchange_rates ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON expense.exchange_rates FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()));
GRANT SELECT ON expense.exchange_rates TO expense_user;

ALTER TABLE expense.expenses ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON expense.expenses FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()) AND iam.can_see_expenses_of(user_id));
CREATE POLICY owner_creates_drafts ON expense.expenses FOR INSERT TO expense_user
  WITH CHECK (status = 'draft' AND EXISTS (SELECT FROM iam.current_account() me
                                           WHERE me.user_id = expenses.user_id AND me.org_id = expenses.org_id));
CREATE POLICY owner_edits_drafts ON expense.expenses FOR UPDATE TO expense_user
  USING (user_id = (SELECT user_id FROM iam.current_account()) AND status = 'draft')
  WITH CHECK (status = 'draft' AND EXISTS (SELECT FROM iam.current_account() me
                                           WHERE me.user_id = expenses.user_id AND me.org_id = expenses.org_id));
CREATE POLICY owner_deletes_drafts ON expense.expenses FOR DELETE TO expense_user
  USING (user_id = (SELECT user_id FROM iam.current_account()) AND status = 'draft');
GRANT SELECT, INSERT, UPDATE, DELETE ON expense.expenses TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- The audit trail: appended to by a trigger on every write, never rewritten.

CREATE TABLE expense.expense_events (
  event_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id         uuid NOT NULL,
  expense_id     uuid NOT NULL,
  owner_id       uuid NOT NULL,
  actor_id       uuid,
  at             timestamptz NOT NULL DEFAULT clock_timestamp(),
  action         text NOT NULL CHECK (action IN ('create', 'edit', 'delete', 'transition')),
  from_status    text,
  to_status      text,
  changed_fields jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX expense_events_expense ON expense.expense_events (expense_id, event_id);
COMMENT ON TABLE expense.expense_events IS 'Append-only audit trail of every change to an expense';
COMMENT ON SEQUENCE expense.expense_events_event_id_seq IS 'Numbers expense.expense_events';
COMMENT ON COLUMN expense.expense_events.event_id IS 'Order of events';
COMMENT ON COLUMN expense.expense_events.org_id IS 'The organisation';
COMMENT ON COLUMN expense.expense_events.expense_id IS 'The expense (kept after a draft is deleted)';
COMMENT ON COLUMN expense.expense_events.owner_id IS 'The expense''s owner';
COMMENT ON COLUMN expense.expense_events.actor_id IS 'Who made the change: the calling user, NULL for a database session without one';
COMMENT ON COLUMN expense.expense_events.at IS 'When';
COMMENT ON COLUMN expense.expense_events.action IS 'create, edit, delete or transition';
COMMENT ON COLUMN expense.expense_events.from_status IS 'Status before';
COMMENT ON COLUMN expense.expense_events.to_status IS 'Status after';
COMMENT ON COLUMN expense.expense_events.changed_fields IS 'Each changed column with its old and new value';

-- Statement-level, over transition tables: a million-row INSERT ... SELECT writes its million
-- events in one set-based statement instead of a million trigger calls.
CREATE FUNCTION expense.record_expense_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  actor uuid := iam.current_user_id();
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO expense.expense_events (org_id, expense_id, owner_id, actor_id, action, to_status, changed_fields)
    SELECT n.org_id, n.expense_id, n.user_id, actor, 'create', n.status, '{}' FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO expense.expense_events (org_id, expense_id, owner_id, actor_id, action, from_status, changed_fields)
    SELECT o.org_id, o.expense_id, o.user_id, actor, 'delete', o.status, '{}' FROM old_rows o;
  ELSE
    INSERT INTO expense.expense_events (org_id, expense_id, owner_id, actor_id, action, from_status, to_status,
                                        changed_fields)
    SELECT n.org_id, n.expense_id, n.user_id, actor,
           CASE WHEN o.status IS DISTINCT FROM n.status THEN 'transition' ELSE 'edit' END,
           o.status, n.status, d.changes
      FROM old_rows o
      JOIN new_rows n USING (expense_id)
     CROSS JOIN LATERAL (
       SELECT jsonb_object_agg(key, jsonb_build_object('from', to_jsonb(o) -> key, 'to', to_jsonb(n) -> key)) AS changes
         FROM jsonb_object_keys(to_jsonb(n) - 'updated_at') key
        WHERE (to_jsonb(o) -> key) IS DISTINCT FROM (to_jsonb(n) -> key)) d
     WHERE d.changes IS NOT NULL;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION expense.record_expense_events() IS
  'AFTER each statement on expense.expenses: appends its creations, edits, transitions and deletions to expense.expense_events';
CREATE TRIGGER audit_insert AFTER INSERT ON expense.expenses
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_events();
CREATE TRIGGER audit_update AFTER UPDATE ON expense.expenses
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_events();
CREATE TRIGGER audit_delete AFTER DELETE ON expense.expenses
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION expense.record_expense_events();

CREATE FUNCTION expense.refuse_rewriting_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = '42501',
    HINT = 'Events are recorded by the expense triggers and never changed.';
END
$$;
COMMENT ON FUNCTION expense.refuse_rewriting_history() IS 'Keeps expense.expense_events append-only, whoever asks';
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON expense.expense_events
  FOR EACH STATEMENT EXECUTE FUNCTION expense.refuse_rewriting_history();

ALTER TABLE expense.expense_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON expense.expense_events FOR SELECT TO expense_user
  USING (org_id = (SELECT org_id FROM iam.current_account()) AND iam.can_see_expenses_of(owner_id));
GRANT SELECT ON expense.expense_events TO expense_user, expense_ops_admin;
SELECT pg_catalog.pg_extension_config_dump('expense.expense_events', '');

-- ---------------------------------------------------------------------------------------------
-- api.expenses: what PostgREST serves as /expenses. It runs with the caller's rights, so the
-- policies above decide every row.

CREATE VIEW api.expenses WITH (security_invoker = true) AS
SELECT e.expense_id AS id, e.user_id, e.category_id, e.expense_date, e.merchant, e.description,
       expense.to_amount(e.amount_minor, e.currency) AS amount, e.currency,
       expense.to_amount(e.base_amount_minor, o.base_currency) AS base_amount,
       o.base_currency, e.exchange_rate, e.receipt_ref, e.status, e.created_at, e.updated_at
  FROM expense.expenses e
  JOIN expense.orgs o USING (org_id);
COMMENT ON VIEW api.expenses IS
$$Expenses (GET/POST/PATCH/DELETE /expenses; Accept: text/csv exports). Employees see and change their own, managers see their reports', finance and admin the whole organisation's. Only the owner edits or deletes, and only drafts; status changes go through api.submit_expense and its siblings.$$;
COMMENT ON COLUMN api.expenses.id IS 'Key';
COMMENT ON COLUMN api.expenses.user_id IS 'The owner; always the caller on creation';
COMMENT ON COLUMN api.expenses.category_id IS 'One of the organisation''s active categories';
COMMENT ON COLUMN api.expenses.expense_date IS 'When the money was spent: not in the future, not older than the category allows';
COMMENT ON COLUMN api.expenses.merchant IS 'Who was paid';
COMMENT ON COLUMN api.expenses.description IS 'What for';
COMMENT ON COLUMN api.expenses.amount IS 'Amount with exactly the currency''s decimals, above zero';
COMMENT ON COLUMN api.expenses.currency IS 'ISO 4217 code';
COMMENT ON COLUMN api.expenses.base_amount IS 'Amount in the base currency, frozen at submission';
COMMENT ON COLUMN api.expenses.base_currency IS 'The organisation''s base currency';
COMMENT ON COLUMN api.expenses.exchange_rate IS 'Rate frozen at submission';
COMMENT ON COLUMN api.expenses.receipt_ref IS 'Reference to the receipt';
COMMENT ON COLUMN api.expenses.status IS 'draft, submitted, approved, reimbursed or rejected';
COMMENT ON COLUMN api.expenses.created_at IS 'When it was created';
COMMENT ON COLUMN api.expenses.updated_at IS 'When it last changed';

CREATE FUNCTION api.write_expense() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
  written expense.expenses;
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM expense.expenses WHERE expense_id = OLD.id RETURNING * INTO written;
    RETURN CASE WHEN written.expense_id IS NULL THEN NULL ELSE OLD END;
  END IF;
  IF NEW.user_id IS DISTINCT FROM me.user_id AND (TG_OP = 'INSERT' AND NEW.user_id IS NOT NULL
                                                  OR TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id) THEN
    RAISE EXCEPTION 'user_id: an expense belongs to the user who creates it' USING ERRCODE = '42501',
      HINT = 'Leave user_id out.';
  END IF;
  IF coalesce(NEW.status, 'draft') <> coalesce(CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, 'draft') THEN
    RAISE EXCEPTION 'status: an expense changes status through its workflow functions' USING ERRCODE = '22X30',
      HINT = 'Call api.submit_expense, api.approve_expense, api.reject_expense or api.reimburse_expense.';
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO expense.expenses (org_id, user_id, category_id, expense_date, merchant, description,
                                  amount_minor, currency, receipt_ref)
    VALUES (me.org_id, me.user_id, NEW.category_id, NEW.expense_date, NEW.merchant,
            coalesce(NEW.description, ''), expense.to_minor_units(NEW.amount, NEW.currency), NEW.currency,
            NEW.receipt_ref)
    RETURNING * INTO written;
  ELSE
    UPDATE expense.expenses
       SET category_id = NEW.category_id, expense_date = NEW.expense_date, merchant = NEW.merchant,
           description = coalesce(NEW.description, ''),
           amount_minor = expense.to_minor_units(NEW.amount, NEW.currency), currency = NEW.currency,
           receipt_ref = NEW.receipt_ref, updated_at = now()
     WHERE expense_id = OLD.id
    RETURNING * INTO written;
    IF written.expense_id IS NULL THEN
      RETURN NULL;
    END IF;
  END IF;
  NEW.id := written.expense_id;
  NEW.user_id := written.user_id;
  NEW.status := written.status;
  NEW.amount := expense.to_amount(written.amount_minor, written.currency);
  NEW.created_at := written.created_at;
  NEW.updated_at := written.updated_at;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION api.write_expense() IS
  'INSTEAD OF trigger of api.expenses: writes expense.expenses as the caller, so row-level security and the rules apply';
CREATE TRIGGER write INSTEAD OF INSERT OR UPDATE OR DELETE ON api.expenses
  FOR EACH ROW EXECUTE FUNCTION api.write_expense();
GRANT SELECT, INSERT, UPDATE, DELETE ON api.expenses TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- The workflow. Each transition is a function; what it may do is decided in C++
-- (core/workflow, core/expense_rules), and the function applies the step.

CREATE FUNCTION expense.workflow_step(
  action text, status text, actor_role text, actor_is_owner boolean, actor_manages_owner boolean,
  above_threshold boolean, first_approval_given boolean, actor_gave_first_approval boolean, reason text)
RETURNS text LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_workflow_step';
COMMENT ON FUNCTION expense.workflow_step(text, text, text, boolean, boolean, boolean, boolean, boolean, text) IS
  'The next status for a workflow action, or the error that forbids it (PT409 wrong status, 42501 not allowed, 22X32 no reason)';
CREATE FUNCTION expense.check_submission(
  base_amount bigint, base_currency text, has_receipt boolean, receipt_threshold bigint,
  per_item_limit bigint, same_day_total bigint, per_day_limit bigint)
RETURNS void LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'expense_ops_check_submission';
COMMENT ON FUNCTION expense.check_submission(bigint, text, boolean, bigint, bigint, bigint, bigint) IS
  'Refuses a submission without a receipt above the threshold (22X33), above the per-item limit (22X34) or the per-day limit (22X35)';
CREATE FUNCTION expense.normalize_merchant(merchant text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_normalize_merchant';
COMMENT ON FUNCTION expense.normalize_merchant(text) IS
  'A merchant name as duplicate detection compares it: case, punctuation and spacing ignored';
CREATE FUNCTION expense.currency_exponent(currency text) RETURNS integer
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_currency_exponent';
COMMENT ON FUNCTION expense.currency_exponent(text) IS 'Digits after the decimal point in the currency''s minor unit';
CREATE INDEX expenses_duplicates ON expense.expenses
  (org_id, user_id, expense_date, amount_minor, currency, expense.normalize_merchant(merchant));

-- The expense an api.*_expense function works on, locked, if the caller may see it. Others get
-- the same 404 as a missing id, so nobody learns which ids exist elsewhere.
CREATE FUNCTION expense.expense_for_update(id uuid) RETURNS expense.expenses
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  row expense.expenses;
BEGIN
  SELECT * INTO row FROM expense.expenses e WHERE e.expense_id = id FOR UPDATE;
  IF row.expense_id IS NULL OR NOT iam.can_see_expenses_of(row.user_id) THEN
    RAISE EXCEPTION 'id: no expense % is visible to you', id USING ERRCODE = 'PT404',
      HINT = 'Check the id; you see your own expenses, your reports'' and, in finance, everyone''s.';
  END IF;
  RETURN row;
END
$$;
COMMENT ON FUNCTION expense.expense_for_update(uuid) IS 'Locks and returns an expense the caller may see; 404 otherwise';

CREATE FUNCTION expense.apply_step(expense expense.expenses, action text, reason text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me record := iam.current_account();
  threshold bigint;
  manages boolean;
BEGIN
  IF me.user_id IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = 'PT401';
  END IF;
  SELECT o.second_approval_threshold INTO threshold FROM expense.orgs o WHERE o.org_id = expense.org_id;
  SELECT u.manager_id IS NOT DISTINCT FROM me.user_id INTO manages FROM iam.users u WHERE u.user_id = expense.user_id;
  RETURN expense.workflow_step(action, expense.status, me.role, expense.user_id = me.user_id, manages,
                               coalesce(expense.base_amount_minor > threshold, false),
                               expense.first_approved_by IS NOT NULL,
                               expense.first_approved_by IS NOT DISTINCT FROM me.user_id, reason);
END
$$;
COMMENT ON FUNCTION expense.apply_step(expense.expenses, text, text) IS
  'Asks the C++ workflow for the caller''s next step on an expense';

CREATE FUNCTION expense.as_api_row(id uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT to_jsonb(x) FROM api.expenses x WHERE x.id = as_api_row.id
$$;
COMMENT ON FUNCTION expense.as_api_row(uuid) IS 'An expense as api.expenses shows it, as jsonb';

CREATE FUNCTION api.submit_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
  org expense.orgs;
  category expense.categories;
  rate numeric;
  base_amount bigint;
  day_total bigint;
  duplicate uuid;
BEGIN
  PERFORM expense.apply_step(e, 'submit');
  SELECT * INTO org FROM expense.orgs o WHERE o.org_id = e.org_id;
  SELECT * INTO category FROM expense.categories c WHERE c.category_id = e.category_id;

  IF e.currency = org.base_currency THEN
    rate := 1;
  ELSE
    SELECT r.rate INTO rate FROM expense.exchange_rates r
     WHERE r.org_id = e.org_id AND r.currency = e.currency AND r.valid_from <= e.expense_date
     ORDER BY r.valid_from DESC LIMIT 1;
    IF rate IS NULL THEN
      RAISE EXCEPTION 'currency: no exchange rate from % to % is valid on %', e.currency, org.base_currency,
        e.expense_date USING ERRCODE = '22X36', HINT = 'Ask finance to record the rate, then submit again.';
    END IF;
  END IF;
  base_amount := round(e.amount_minor * rate
                       * 10::numeric ^ (expense.currency_exponent(org.base_currency) - expense.currency_exponent(e.currency)));

  SELECT coalesce(sum(x.base_amount_minor), 0) INTO day_total FROM expense.expenses x
   WHERE x.org_id = e.org_id AND x.user_id = e.user_id AND x.category_id = e.category_id
     AND x.expense_date = e.expense_date AND x.expense_id <> e.expense_id
     AND x.status IN ('submitted', 'approved', 'reimbursed');
  PERFORM expense.check_submission(base_amount, org.base_currency, e.receipt_ref IS NOT NULL,
                                   category.receipt_threshold, category.per_item_limit, day_total,
                                   category.per_day_limit);

  IF e.duplicate_confirmed_at IS NULL THEN
    SELECT x.expense_id INTO duplicate FROM expense.expenses x
     WHERE x.org_id = e.org_id AND x.user_id = e.user_id AND x.expense_date = e.expense_date
       AND x.amount_minor = e.amount_minor AND x.currency = e.currency
       AND expense.normalize_merchant(x.merchant) = expense.normalize_merchant(e.merchant)
       AND x.expense_id <> e.expense_id AND x.status IN ('submitted', 'approved', 'reimbursed')
     ORDER BY x.created_at LIMIT 1;
    IF duplicate IS NOT NULL THEN
      UPDATE expense.expenses x SET duplicate_of = duplicate WHERE x.expense_id = e.expense_id;
      -- Held, not refused: the flag must commit, so no exception (PostgREST would roll it back).
      PERFORM set_config('response.status', '409', true);
      RETURN jsonb_build_object('error', 'possible_duplicate', 'duplicate_of', duplicate,
        'message', 'this expense looks like one already claimed (same day, amount, currency and merchant)',
        'hint', 'If it is a different expense, call api.confirm_not_duplicate and submit again.');
    END IF;
  END IF;

  UPDATE expense.expenses x
     SET status = 'submitted', exchange_rate = rate, base_amount_minor = base_amount, submitted_at = now(),
         duplicate_of = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.submit_expense(uuid) IS
$$Submit a draft (POST /rpc/submit_expense, owner only). Freezes the exchange rate valid on the expense date and the base amount, then checks the receipt threshold, the per-item and per-day limits. A likely duplicate (same user, date, amount, currency and merchant) is held: HTTP 409 with duplicate_of, until api.confirm_not_duplicate.$$;

CREATE FUNCTION api.confirm_not_duplicate(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  IF e.user_id IS DISTINCT FROM (SELECT user_id FROM iam.current_account()) THEN
    RAISE EXCEPTION 'only the owner confirms an expense is not a duplicate' USING ERRCODE = '42501';
  END IF;
  IF e.status <> 'draft' THEN
    RAISE EXCEPTION 'status: only a draft can be confirmed, this one is %', e.status USING ERRCODE = 'PT409';
  END IF;
  UPDATE expense.expenses x SET duplicate_confirmed_at = now(), duplicate_of = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.confirm_not_duplicate(uuid) IS
  'The owner confirms a held expense is not a duplicate (POST /rpc/confirm_not_duplicate); it can then be submitted';

CREATE FUNCTION api.approve_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
  step text := expense.apply_step(e, 'approve');
  me uuid := (SELECT user_id FROM iam.current_account());
BEGIN
  IF step = 'submitted+first_approval' THEN
    UPDATE expense.expenses x SET first_approved_by = me, first_approved_at = now(), updated_at = now()
     WHERE x.expense_id = e.expense_id;
  ELSIF e.first_approved_by IS NULL THEN
    UPDATE expense.expenses x SET status = 'approved', first_approved_by = me, first_approved_at = now(),
           updated_at = now() WHERE x.expense_id = e.expense_id;
  ELSE
    UPDATE expense.expenses x SET status = 'approved', second_approved_by = me, second_approved_at = now(),
           updated_at = now() WHERE x.expense_id = e.expense_id;
  END IF;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.approve_expense(uuid) IS
  'Approve a submitted expense (POST /rpc/approve_expense): the owner''s manager, finance or an admin, never the owner. Above the organisation''s threshold the first approval leaves it submitted and finance gives the second';

CREATE FUNCTION api.reject_expense(id uuid, reason text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  PERFORM expense.apply_step(e, 'reject', reason);
  UPDATE expense.expenses x
     SET status = 'rejected', rejected_by = (SELECT user_id FROM iam.current_account()),
         rejection_reason = btrim(reason), first_approved_by = NULL, first_approved_at = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.reject_expense(uuid, text) IS
  'Reject a submitted expense with a reason (POST /rpc/reject_expense); whoever may approve it may reject it';

CREATE FUNCTION api.reimburse_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  PERFORM expense.apply_step(e, 'reimburse');
  UPDATE expense.expenses x
     SET status = 'reimbursed', reimbursed_by = (SELECT user_id FROM iam.current_account()), reimbursed_at = now(),
         updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.reimburse_expense(uuid) IS 'Mark an approved expense reimbursed (POST /rpc/reimburse_expense); finance only';

CREATE FUNCTION api.reopen_expense(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e expense.expenses := expense.expense_for_update(id);
BEGIN
  PERFORM expense.apply_step(e, 'reopen');
  UPDATE expense.expenses x
     SET status = 'draft', exchange_rate = NULL, base_amount_minor = NULL, updated_at = now()
   WHERE x.expense_id = e.expense_id;
  RETURN expense.as_api_row(e.expense_id);
END
$$;
COMMENT ON FUNCTION api.reopen_expense(uuid) IS
  'Return a rejected expense to draft (POST /rpc/reopen_expense), owner only, to fix and submit it again';

REVOKE ALL ON FUNCTION expense.workflow_step(text, text, text, boolean, boolean, boolean, boolean, boolean, text),
  expense.check_submission(bigint, text, boolean, bigint, bigint, bigint, bigint),
  expense.expense_for_update(uuid), expense.apply_step(expense.expenses, text, text), expense.as_api_row(uuid),
  api.submit_expense(uuid), api.confirm_not_duplicate(uuid), api.approve_expense(uuid),
  api.reject_expense(uuid, text), api.reimburse_expense(uuid), api.reopen_expense(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expense.normalize_merchant(text), expense.currency_exponent(text) TO expense_user;
GRANT EXECUTE ON FUNCTION api.submit_expense(uuid), api.confirm_not_duplicate(uuid), api.approve_expense(uuid),
  api.reject_expense(uuid, text), api.reimburse_expense(uuid), api.reopen_expense(uuid) TO expense_user;

-- ---------------------------------------------------------------------------------------------
-- User administration. Admins act within their own organisation; everyone else gets 403, and
-- users of other organisations look missing (404).

CREATE TABLE iam.invitations (
  invitation_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL REFERENCES iam.users ON DELETE CASCADE,
  secret_hash   text NOT NULL,
  created_by    uuid NOT NULL,
  expires_at    timestamptz NOT NULL DEFAULT now() + interval '7 days',
  accepted_at   timestamptz
);
COMMENT ON TABLE iam.invitations IS 'Invitations to set a first password; the code''s secret is kept only as an argon2id hash';
COMMENT ON COLUMN iam.invitations.invitation_id IS 'First part of the invitation code';
COMMENT ON COLUMN iam.invitations.user_id IS 'The invited user';
COMMENT ON COLUMN iam.invitations.secret_hash IS 'argon2id hash of the code''s secret part';
COMMENT ON COLUMN iam.invitations.created_by IS 'The admin who invited';
COMMENT ON COLUMN iam.invitations.expires_at IS 'The code works until then (7 days)';
COMMENT ON COLUMN iam.invitations.accepted_at IS 'When it was used; a code works once';
SELECT pg_catalog.pg_extension_config_dump('iam.invitations', '');

-- The caller, who must be an admin; and a user of the caller's organisation.
CREATE FUNCTION iam.require_admin() RETURNS iam.users
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL;
  IF me.user_id IS NULL OR me.role <> 'admin' THEN
    RAISE EXCEPTION 'only an admin manages users' USING ERRCODE = '42501', HINT = 'Ask an administrator.';
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
    RAISE EXCEPTION 'user_id: no user % in your organisation', user_id USING ERRCODE = 'PT404';
  END IF;
  RETURN found;
END
$$;
COMMENT ON FUNCTION iam.user_of_org(uuid, uuid) IS 'A user of the given organisation, locked; 404 otherwise';
REVOKE ALL ON FUNCTION iam.require_admin(), iam.user_of_org(uuid, uuid) FROM PUBLIC;

CREATE FUNCTION api.create_user(email text, display_name text, role text DEFAULT 'employee',
                                manager_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users := iam.require_admin();
  created iam.users;
  secret text := rtrim(translate(encode(iam.random_bytes(24), 'base64'), '+/', '-_'), '=');
  invitation uuid;
BEGIN
  IF manager_id IS NOT NULL THEN
    PERFORM iam.user_of_org(manager_id, me.org_id);
  END IF;
  INSERT INTO iam.users (org_id, email, display_name, role, manager_id)
  VALUES (me.org_id, btrim(email), display_name, role, manager_id)
  RETURNING * INTO created;
  INSERT INTO iam.invitations (user_id, secret_hash, created_by)
  VALUES (created.user_id, iam.rehash_password(secret), me.user_id)
  RETURNING invitation_id INTO invitation;
  RETURN jsonb_build_object('user_id', created.user_id, 'email', created.email, 'role', created.role,
                            'invitation_code', invitation || '.' || secret,
                            'invitation_expires_at', now() + interval '7 days');
END
$$;
COMMENT ON FUNCTION api.create_user(text, text, text, uuid) IS
  'Admins invite a user into their organisation (POST /rpc/create_user). Returns the user and a one-time invitation_code, valid 7 days, which api.accept_invitation exchanges for a first password';

CREATE FUNCTION api.accept_invitation(code text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  invitation iam.invitations;
  invitee iam.users;
BEGIN
  BEGIN
    SELECT * INTO invitation FROM iam.invitations i
     WHERE i.invitation_id = split_part(code, '.', 1)::uuid FOR UPDATE;
  EXCEPTION WHEN invalid_text_representation THEN
    invitation := NULL;
  END;
  IF invitation.invitation_id IS NULL OR invitation.accepted_at IS NOT NULL OR invitation.expires_at < now()
     OR iam.verify_password(split_part(code, '.', 2), invitation.secret_hash) = 'mismatch' THEN
    RAISE EXCEPTION 'code: the invitation code is wrong, used or expired' USING ERRCODE = '28P01',
      HINT = 'Ask your administrator for a new invitation.';
  END IF;
  -- A first password leaves password_changed_at alone: no earlier token exists to end.
  UPDATE iam.users u SET password_hash = iam.hash_password(password)
   WHERE u.user_id = invitation.user_id RETURNING * INTO invitee;
  UPDATE iam.invitations i SET accepted_at = now() WHERE i.invitation_id = invitation.invitation_id;
  RETURN jsonb_build_object('user_id', invitee.user_id, 'email', invitee.email);
END
$$;
COMMENT ON FUNCTION api.accept_invitation(text, text) IS
  'Sets a first password with an invitation code (POST /rpc/accept_invitation); the code works once. Then log in with api.login';

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
    RAISE EXCEPTION 'user_id: admins cannot deactivate themselves' USING ERRCODE = 'PT409',
      HINT = 'Ask another admin.';
  END IF;
  PERFORM iam.user_of_org(user_id, me.org_id);
  UPDATE iam.users u SET disabled_at = coalesce(u.disabled_at, now()) WHERE u.user_id = deactivate_user.user_id;
END
$$;
COMMENT ON FUNCTION api.deactivate_user(uuid) IS
  'Admins deactivate a user: logins are refused and api.pre_request() refuses their tokens from now on';

CREATE FUNCTION api.change_password(old_password text, new_password text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me iam.users;
BEGIN
  SELECT * INTO me FROM iam.users u WHERE u.user_id = iam.current_user_id() AND u.disabled_at IS NULL FOR UPDATE;
  IF me.user_id IS NULL THEN
    RAISE EXCEPTION 'not logged in' USING ERRCODE = 'PT401';
  END IF;
  IF me.password_hash IS NULL OR iam.verify_password(coalesce(old_password, ''), me.password_hash) = 'mismatch' THEN
    RAISE EXCEPTION 'old_password: the current password is wrong' USING ERRCODE = '28P01',
      HINT = 'Enter the password you log in with now.';
  END IF;
  UPDATE iam.users u SET password_hash = iam.hash_password(new_password), password_changed_at = now()
   WHERE u.user_id = me.user_id;
END
$$;
COMMENT ON FUNCTION api.change_password(text, text) IS
  'Users change their own password, giving the old one (POST /rpc/change_password). Tokens issued before stop working; log in again';

REVOKE ALL ON FUNCTION api.create_user(text, text, text, uuid), api.accept_invitation(text, text),
  api.set_user_role(uuid, text), api.set_user_manager(uuid, uuid), api.deactivate_user(uuid),
  api.change_password(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_user(text, text, text, uuid), api.set_user_role(uuid, text),
  api.set_user_manager(uuid, uuid), api.deactivate_user(uuid), api.change_password(text, text) TO expense_user;
GRANT EXECUTE ON FUNCTION api.accept_invitation(text, text) TO expense_anon, expense_user;

-- ---------------------------------------------------------------------------------------------
-- Reporting

CREATE FUNCTION api.expense_summary("from" date, "to" date)
RETURNS TABLE (month date, category text, base_currency text, expenses bigint, total numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
    RAISE EXCEPTION 'from and to must be dates with from <= to, got % and %', "from", "to"
      USING ERRCODE = '22023', HINT = 'For example: from => ''2026-01-01'', to => ''2026-12-31''.';
  END IF;
  -- Runs with the caller's rights: row-level security limits it to the expenses they may see.
  RETURN QUERY
  SELECT date_trunc('month', e.expense_date)::date, c.name, o.base_currency, count(*),
         expense.to_amount(sum(e.base_amount_minor)::bigint, o.base_currency)
    FROM expense.expenses e
    JOIN expense.categories c USING (category_id)
    JOIN expense.orgs o ON o.org_id = e.org_id
   WHERE e.expense_date BETWEEN "from" AND "to"
     AND e.status IN ('submitted', 'approved', 'reimbursed')
   GROUP BY 1, 2, 3
   ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION api.expense_summary(date, date) IS
  'Totals of submitted, approved and reimbursed expenses per month and category, in the base currency, over the expenses the caller may see (GET /rpc/expense_summary?from=2026-01-01&to=2026-12-31)';
REVOKE ALL ON FUNCTION api.expense_summary(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.expense_summary(date, date) TO expense_user;
