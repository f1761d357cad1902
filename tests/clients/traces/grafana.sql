-- Grafana's queries on connecting and browsing, as recorded from Grafana's PostgreSQL data source
-- (the traces datafusion-postgres replays in its own tests), pointed at the
-- test's keyspace. tests/tests/it/drivers.rs runs each over the extended
-- protocol, as pgx sends them: none may fail. `-- expect: text` before
-- a statement: some row of its result, as text, contains `text`.
-- Placeholders: {keyspace}, and {table_oid} (the oid of all_types).

-- ----
-- expect: {keyspace}.all_types
SELECT
        CASE WHEN
              quote_ident(table_schema) IN (
              SELECT
                CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
              FROM
                generate_series(
                  array_lower(string_to_array(current_setting('search_path'),','),1),
                  array_upper(string_to_array(current_setting('search_path'),','),1)
                ) as i,
                string_to_array(current_setting('search_path'),',') s
              )
          THEN quote_ident(table_name)
          ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
        END AS "table"
        FROM information_schema.tables
        WHERE quote_ident(table_schema) NOT IN ('information_schema',
                                 'pg_catalog',
                                 '_timescaledb_cache',
                                 '_timescaledb_catalog',
                                 '_timescaledb_internal',
                                 '_timescaledb_config',
                                 'timescaledb_information',
                                 'timescaledb_experimental')
        ORDER BY CASE WHEN
              quote_ident(table_schema) IN (
              SELECT
                CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
              FROM
                generate_series(
                  array_lower(string_to_array(current_setting('search_path'),','),1),
                  array_upper(string_to_array(current_setting('search_path'),','),1)
                ) as i,
                string_to_array(current_setting('search_path'),',') s
              ) THEN 0 ELSE 1 END, 1
-- ----
-- expect: c_decimal
-- expect: numeric
-- expect: timestamp with time zone
SELECT quote_ident(column_name) AS "column", data_type AS "type"
        FROM information_schema.columns
        WHERE
          CASE WHEN array_length(parse_ident('{keyspace}.all_types'),1) = 2
            THEN quote_ident(table_schema) = (parse_ident('{keyspace}.all_types'))[1]
              AND quote_ident(table_name) = (parse_ident('{keyspace}.all_types'))[2]
            ELSE quote_ident(table_name) = '{keyspace}.all_types'
              AND
              quote_ident(table_schema) IN (
              SELECT
                CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
              FROM
                generate_series(
                  array_lower(string_to_array(current_setting('search_path'),','),1),
                  array_upper(string_to_array(current_setting('search_path'),','),1)
                ) as i,
                string_to_array(current_setting('search_path'),',') s
              )
          END
-- ----
-- The statements below were reconstructed from the source of Grafana's
-- PostgreSQL data source (v10 to v12: pkg/tsdb/grafana-postgresql-datasource,
-- public/app/plugins/datasource/grafana-postgresql-datasource and
-- packages/grafana-sql), with macros expanded for the range
-- 2024-10-01T00:00:00Z to 2024-11-01T00:00:00Z and an interval of 1h.
-- First the health checks of lib/pq and of pgx.
;
-- ----
-- ping
-- ----
-- expect: 1
SELECT current_setting('server_version_num')::int/100 as version
-- ----
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
-- ----
-- expect: {keyspace}
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name
-- ----
-- expect: all_types
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = '{keyspace}'
      ORDER BY 1
-- ----
SELECT datname FROM pg_database WHERE datistemplate = false
-- ----
-- expect: c_bigint
-- expect: bigint
select quote_ident(column_name) as "column", data_type as "type"
    from information_schema.columns
    where quote_ident(table_name) = 'all_types'
-- ----
-- expect: {keyspace}
SELECT schema_name FROM information_schema.schemata
		 WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema'
		 ORDER BY schema_name
-- ----
-- expect: all_types
SELECT table_name FROM information_schema.tables
		 WHERE table_schema = '{keyspace}' AND table_type IN ('BASE TABLE', 'VIEW')
		 ORDER BY table_name
-- ----
-- expect: timestamptz
-- expect: _int4
-- expect: numeric
SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale
		 FROM information_schema.columns
		 WHERE table_schema = '{keyspace}' AND table_name = 'all_types'
		 ORDER BY ordinal_position
-- ----
-- expect: ünïcödé
SELECT 'c_text' AS col_name, "c_text"::text AS val FROM (SELECT DISTINCT "c_text" FROM "{keyspace}"."all_types" WHERE "c_text" IS NOT NULL ORDER BY "c_text" LIMIT 100) sub_0 UNION ALL SELECT 'c_int' AS col_name, "c_int"::text AS val FROM (SELECT DISTINCT "c_int" FROM "{keyspace}"."all_types" WHERE "c_int" IS NOT NULL ORDER BY "c_int" LIMIT 100) sub_1
-- ----
-- expect: ünïcödé
SELECT id, c_date, c_text, c_double, c_bigint FROM {keyspace}.all_types LIMIT 50 
-- ----
-- expect: -2147483648
SELECT c_text, SUM(c_int) AS "total" FROM {keyspace}.all_types WHERE (c_timestamp >= '2024-10-01 00:00:00' AND c_text IN ('it''s; -- ünïcödé', 'b')) GROUP BY c_text ORDER BY c_text DESC LIMIT 50 
-- ----
-- expect: 1727784000
SELECT floor(extract(epoch from c_timestamp)/3600)*3600 AS "time", SUM(c_int) AS "value" FROM {keyspace}.all_types WHERE c_timestamp BETWEEN '2024-10-01T00:00:00Z' AND '2024-11-01T00:00:00Z' GROUP BY c_timestamp ORDER BY c_timestamp ASC LIMIT 50 
-- ----
-- expect: 1727784000
SELECT
  floor(extract(epoch from c_timestamp)/3600)*3600 AS "time",
  avg(c_double) AS "c_double",
  c_text AS metric
FROM {keyspace}.all_types
WHERE c_timestamp BETWEEN '2024-10-01T00:00:00Z' AND '2024-11-01T00:00:00Z'
GROUP BY time, c_text
ORDER BY time
-- ----
-- expect: 1727784000
SELECT floor(extract(epoch from c_timestamp)/3600)*3600 AS "time", c_text AS metric, sum(c_int) AS value
FROM {keyspace}.all_types
WHERE c_timestamp BETWEEN '2024-10-01T00:00:00Z' AND '2024-11-01T00:00:00Z' AND c_ascii IN ('plain ascii','b')
GROUP BY 1,2
ORDER BY 1
-- ----
-- expect: 1727784000
SELECT floor(extract(epoch from c_timestamp)/3600)*3600 AS time, count(*) AS "count"
FROM {keyspace}.all_types
WHERE c_timestamp BETWEEN '2024-10-01T00:00:00Z' AND '2024-11-01T00:00:00Z'
GROUP BY floor(extract(epoch from c_timestamp)/3600)*3600
ORDER BY 1
-- ----
-- expect: 2024-10-01 12:34:56.789
SELECT c_timestamp AS "time", c_int FROM {keyspace}.all_types WHERE c_timestamp BETWEEN '2024-10-01T00:00:00Z' AND '2024-11-01T00:00:00Z' ORDER BY 1
-- ----
-- expect: 1727786096.789
SELECT extract(epoch from c_timestamp) as "time", c_double FROM {keyspace}.all_types WHERE c_timestamp BETWEEN '2024-10-01T00:00:00Z' AND '2024-11-01T00:00:00Z' ORDER BY 1
-- ----
-- expect: -2147483648
SELECT c_timestamp AS "time", c_int FROM {keyspace}.all_types WHERE c_timestamp >= '2024-10-01T00:00:00Z' AND c_timestamp < '2024-11-01T00:00:00Z' ORDER BY c_timestamp
-- ----
-- expect: -2147483648
SELECT c_timestamp AS "time", c_int FROM {keyspace}.all_types WHERE extract(epoch from c_timestamp) >= 1727740800 AND extract(epoch from c_timestamp) <= 1730419200 ORDER BY 1
-- ----
SELECT floor((c_bigint)/3600)*3600 AS "time", count(*) AS "count" FROM {keyspace}.all_types WHERE c_bigint >= 1727740800 AND c_bigint <= 1730419200 GROUP BY 1 ORDER BY 1
-- ----
SELECT c_bigint AS "time", c_double FROM {keyspace}.all_types WHERE c_bigint >= 1727740800000000000 AND c_bigint <= 1730419200000000000 ORDER BY 1
-- ----
-- expect: 2024-02-29
SELECT c_date, sum(c_double) AS c_double FROM {keyspace}.all_types WHERE c_date BETWEEN '2024-02-01T00:00:00Z' AND '2024-03-01T00:00:00Z' GROUP BY c_date ORDER BY c_date
-- ----
-- expect: plain ascii, -2147483648
SELECT c_timestamp AS "time", c_text AS text, concat_ws(', ', c_ascii::text, c_int::text) AS tags FROM {keyspace}.all_types WHERE c_timestamp BETWEEN '2024-10-01T00:00:00Z' AND '2024-11-01T00:00:00Z'
-- ----
-- expect: plain ascii
SELECT DISTINCT c_ascii FROM {keyspace}.all_types
-- ----
-- expect: plain ascii
SELECT DISTINCT c_ascii FROM {keyspace}.all_types WHERE c_ascii LIKE '%' ORDER BY c_ascii
-- ----
-- expect: plain ascii
SELECT c_ascii AS __text, id AS __value FROM {keyspace}.all_types
