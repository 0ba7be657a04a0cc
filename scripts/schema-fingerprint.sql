-- Everything the expense_ops extension defines, one line per fact, in a stable order. Two
-- databases with equal fingerprints carry the same extension schema (used by the upgrade test).
WITH members AS (
  SELECT d.classid, d.objid
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'expense_ops'
   WHERE d.deptype = 'e'
)
SELECT line FROM (
  SELECT 'version ' || extversion AS line FROM pg_extension WHERE extname = 'expense_ops'
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
  UNION ALL
  SELECT 'comment ' || pg_describe_object(m.classid, m.objid, 0) || ' = ' || c.description
    FROM members m JOIN pg_description c ON c.classoid = m.classid AND c.objoid = m.objid
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid))
         || ' acl=' || coalesce(p.proacl::text, 'default')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  UNION ALL
  SELECT format('column %s.%s %s notnull=%s default=%s acl=%s', c.oid::regclass, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(ad.adbin, ad.adrelid), coalesce(c.relacl::text, 'default'))
    FROM members m
    JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('constraint %s %s %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid))
    FROM members m
    JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM members m
    JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
  UNION ALL
  SELECT format('schema %s acl=%s', n.nspname, coalesce(n.nspacl::text, 'default'))
    FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
) facts
ORDER BY line;
