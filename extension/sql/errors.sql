-- The error catalog: SQL raises each rule's SQLSTATE by its name, RAISE ... USING ERRCODE =
-- expense.sqlstate('not_found'), so that every code is written in one place
-- (extension/core/error.hpp; docs/errors.md shows it).

CREATE FUNCTION expense.sqlstate(name text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'expense_ops_sqlstate';
COMMENT ON FUNCTION expense.sqlstate(text) IS
  'The SQLSTATE of an error of the catalog, by its name (docs/errors.md); 22023 for a name the catalog does not hold';
REVOKE ALL ON FUNCTION expense.sqlstate(text) FROM PUBLIC;
-- Raised with the caller's rights by the INSTEAD OF triggers, the policies' helpers and the
-- tickets' triggers that staff fire in psql.
GRANT EXECUTE ON FUNCTION expense.sqlstate(text) TO expense_user, expense_ops_admin;
