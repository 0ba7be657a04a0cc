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
  forwarded text := nullif(btrim(split_part(
    nullif(current_setting('request.headers', true), '')::json->>'x-forwarded-for', ',', 1)), '');
BEGIN
  IF forwarded IS NOT NULL THEN
    BEGIN
      RETURN forwarded::inet;
    EXCEPTION WHEN invalid_text_representation THEN
      RETURN NULL;  -- a forged header that is not even an address counts as no address
    END;
  END IF;
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
  IF account.password_changed_at IS NOT NULL
     AND (claims->>'iat')::bigint < floor(extract(epoch FROM account.password_changed_at)) THEN
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
