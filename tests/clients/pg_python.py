"""Drives smackql's Postgres wire front end with Python's drivers: SQLAlchemy 2
over psycopg 3 and over psycopg2 (as Superset and notebooks use them),
asyncpg, and pyodbc over psqlODBC reading through cursors in chunks
(`UseDeclareFetch=1`), as Tableau does.

psycopg 3 is also driven directly, with the parameters it sends untyped.

Usage: python pg_python.py HOST PORT KEYSPACE

The keyspace holds the all-types table `all_types` (tests/src/all_types.rs):
row 1 has a value of every CQL type, row 2 only nulls. Each client reflects
the table the way its tools do, runs a query with parameters, and compares
every value with what CQL stored. Any mismatch raises, and the process exits
non-zero; on success it prints "ok".
"""

import asyncio
import datetime
import ipaddress
import json
import sys
import uuid
import warnings
from decimal import Decimal

import asyncpg
import pyodbc
import sqlalchemy
from sqlalchemy import MetaData, create_engine, inspect, select, text

HOST, PORT, KEYSPACE = sys.argv[1], int(sys.argv[2]), sys.argv[3]

UUID_A = "123e4567-e89b-12d3-a456-426614174000"
TIMEUUID = "50554d6e-29bb-11e5-b345-feff819cdc9f"

# Each column of all_types, in Cassandra's order, with the SQLAlchemy type
# that reflection gives it and its value in row 1, as a Python value after
# `normalize`.
COLUMNS = [
    ("id", "INTEGER", 1),
    ("c_ascii", "TEXT", "plain ascii"),
    ("c_bigint", "BIGINT", -(2**63)),
    ("c_blob", "BYTEA", b"\x00\xff\x10"),
    ("c_boolean", "BOOLEAN", True),
    ("c_costs", "JSON", {UUID_A: Decimal("0.5")}),
    ("c_date", "DATE", datetime.date(2024, 2, 29)),
    ("c_decimal", "NUMERIC", Decimal("12345678901234567890.1234567891")),
    ("c_double", "DOUBLE_PRECISION", 2.718281828459045),
    # PostgreSQL's interval keeps microseconds (the 8 ns are cut), and
    # drivers count a month as 30 days.
    ("c_duration", "INTERVAL", datetime.timedelta(days=32, hours=3, minutes=4, seconds=5, microseconds=6007)),
    ("c_float", "REAL", 1.5),
    ("c_inet", "INET", "2001:db8::1"),
    ("c_int", "INTEGER", -(2**31)),
    ("c_list", "ARRAY", [3, 1, 2]),
    ("c_map", "JSON", {"x": 1, "y": 2}),
    ("c_nested", "JSON", [[1], [2, 3]]),
    ("c_set", "ARRAY", ["a", "b"]),
    ("c_smallint", "SMALLINT", -32768),
    ("c_text", "TEXT", "it's; -- ünïcödé"),
    # PostgreSQL's time keeps microseconds.
    ("c_time", "TIME", datetime.time(13, 14, 15, 123456)),
    ("c_timestamp", "TIMESTAMP", datetime.datetime(2024, 10, 1, 12, 34, 56, 789000, tzinfo=datetime.timezone.utc)),
    ("c_timeuuid", "UUID", TIMEUUID),
    ("c_tinyint", "SMALLINT", -128),
    # Tuples and UDTs are anonymous records, which SQLAlchemy does not map.
    ("c_tuple", "NullType", "(7,seven)"),
    ("c_udt", "NullType", "(1.5,-2.5)"),
    ("c_uuid", "UUID", UUID_A),
    ("c_uuids", "ARRAY", {UUID_A, TIMEUUID}),
    ("c_varint", "NUMERIC", Decimal("-123456789012345678901234567890123456")),
    ("c_vector", "ARRAY", [0.5, 1.5, 2.5]),
]
NAMES = [name for name, _, _ in COLUMNS]


def normalize(name, value):
    """A driver's value in the form COLUMNS gives: drivers differ in how they
    return uuids, inet, JSON and records, not in the value."""
    if value is None:
        return None
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, (uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if name in ("c_costs", "c_map", "c_nested"):
        if isinstance(value, str):
            return json.loads(value, parse_float=Decimal)
        return json.loads(json.dumps(value), parse_float=Decimal)
    if name == "c_uuids":
        if isinstance(value, str):
            value = value.strip("{}").split(",")
        return {str(v) for v in value}
    if name in ("c_tuple", "c_udt") and isinstance(value, tuple):
        return "(" + ",".join(str(v) for v in value) + ")"
    return value


def check_row(client, row, run=""):
    values = dict(zip(NAMES, row))
    for name, _, want in COLUMNS:
        got = normalize(name, values[name])
        if got != want:
            raise AssertionError(f"{client}{run}: {name} is {values[name]!r}, want {want!r}")


def check_nulls(client, row):
    for name, value in zip(NAMES, row):
        if name != "id" and value is not None:
            raise AssertionError(f"{client}: {name} of row 2 is {value!r}, want None")


def expect(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def sqlalchemy_suite(driver):
    engine = create_engine(f"postgresql+{driver}://smackql@{HOST}:{PORT}/smackql")
    try:
        inspector = inspect(engine)
        schemas = inspector.get_schema_names()
        if KEYSPACE not in schemas:
            raise AssertionError(f"{driver}: get_schema_names lacks {KEYSPACE}: {schemas}")
        expect(f"{driver}: get_table_names", inspector.get_table_names(schema=KEYSPACE), ["all_types"])
        with warnings.catch_warnings():
            # "Did not recognize type 'record'": the tuple and UDT columns.
            warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
            columns = inspector.get_columns("all_types", schema=KEYSPACE)
            expect(
                f"{driver}: get_columns",
                [(c["name"], type(c["type"]).__name__, c["nullable"]) for c in columns],
                [(name, kind, name != "id") for name, kind, _ in COLUMNS],
            )
            timestamp = next(c for c in columns if c["name"] == "c_timestamp")
            expect(f"{driver}: c_timestamp has a time zone", timestamp["type"].timezone, True)
            expect(
                f"{driver}: get_pk_constraint",
                inspector.get_pk_constraint("all_types", schema=KEYSPACE)["constrained_columns"],
                ["id"],
            )
            # The primary key's index is the constraint's, which
            # get_indexes leaves out, as for PostgreSQL.
            expect(f"{driver}: get_indexes", inspector.get_indexes("all_types", schema=KEYSPACE), [])
            metadata = MetaData()
            metadata.reflect(bind=engine, schema=KEYSPACE)
        table = metadata.tables[f"{KEYSPACE}.all_types"]
        expect(f"{driver}: reflected columns", [c.name for c in table.columns], NAMES)
        expect(f"{driver}: reflected primary key", [c.name for c in table.primary_key], ["id"])

        with engine.connect() as conn:
            # A query SQLAlchemy builds, with bound parameters of two types.
            found = conn.execute(
                select(table.c.id).where(table.c.c_text == "it's; -- ünïcödé", table.c.c_bigint == -(2**63))
            ).all()
            expect(f"{driver}: query with parameters", [tuple(r) for r in found], [(1,)])
            found = conn.execute(select(table.c.id).where(table.c.c_uuid == uuid.UUID(UUID_A))).all()
            expect(f"{driver}: query with a uuid parameter", [tuple(r) for r in found], [(1,)])
            columns = ", ".join(NAMES)
            query = text(f'SELECT {columns} FROM "{KEYSPACE}".all_types WHERE id = :id')
            for run in range(3):
                check_row(driver, conn.execute(query, {"id": 1}).one(), f" (run {run + 1})")
            check_nulls(driver, conn.execute(query, {"id": 2}).one())
    finally:
        engine.dispose()


def psycopg_suite():
    """psycopg 3 on its own: parameters as it sends them, untyped text cast
    in the statement, and lists as arrays, in text and in binary."""
    import psycopg

    with psycopg.connect(f"host={HOST} port={PORT} user=smackql dbname=smackql", autocommit=True) as conn:
        table = f'"{KEYSPACE}".all_types'
        # Columns are named as PostgreSQL names them, in both protocols.
        for prepare in (False, True):
            cur = conn.execute(
                f"SELECT count(*), c_uuid::text, c_int + 1, upper(c_text) FROM {table} GROUP BY c_uuid, c_int, c_text",
                prepare=prepare,
            )
            expect(
                f"psycopg: column names (prepare={prepare})",
                [d.name for d in cur.description],
                ["count", "c_uuid", "?column?", "upper"],
            )
        # psycopg sends a str untyped; the cast in the statement types it.
        for prepare in (False, True):
            rows = conn.execute(
                f"SELECT id FROM {table} WHERE c_uuid = %s::uuid", [UUID_A], prepare=prepare
            ).fetchall()
            expect(f"psycopg: text cast to uuid (prepare={prepare})", rows, [(1,)])
        rows = conn.execute("SELECT CAST(%s AS uuid)", [UUID_A.upper()]).fetchall()
        expect("psycopg: CAST(text AS uuid)", rows, [(uuid.UUID(UUID_A),)])
        # A list of uuids is a uuid[], sent as text (%t) or binary (%b).
        wanted = [uuid.UUID(UUID_A), uuid.UUID(TIMEUUID)]
        for marker in ("%t", "%b"):
            rows = conn.execute(f"SELECT id FROM {table} WHERE c_uuid = ANY({marker})", [wanted]).fetchall()
            expect(f"psycopg: uuid = ANY({marker})", rows, [(1,)])
            rows = conn.execute(f"SELECT {marker}::uuid[]", [[UUID_A, None]]).fetchall()
            expect(f"psycopg: {marker}::uuid[]", rows, [([uuid.UUID(UUID_A), None],)])
        # A NULL uuid[] stays NULL, and matches nothing.
        rows = conn.execute("SELECT CAST(%s AS uuid[]) IS NULL", [None]).fetchall()
        expect("psycopg: NULL uuid[]", rows, [(True,)])
        rows = conn.execute(f"SELECT id FROM {table} WHERE c_uuid = ANY(%s::uuid[])", [None]).fetchall()
        expect("psycopg: uuid = ANY(NULL)", rows, [])
        try:
            conn.execute("SELECT %s::uuid", ["not-a-uuid"])
            raise AssertionError("psycopg: a malformed uuid parameter was accepted")
        except psycopg.errors.InvalidTextRepresentation:
            pass
        # timestamptz keeps the offset it is written with, and comes back
        # with the session's zone.
        written = datetime.datetime(2024, 1, 1, 8, 0, tzinfo=datetime.timezone.utc)
        for sql in ("SELECT %s::timestamptz", "SELECT CAST(%s AS timestamp with time zone)"):
            (value,) = conn.execute(sql, ["2024-01-01 10:00:00+02"]).fetchone()
            expect(f"psycopg: {sql}", (value, value.utcoffset()), (written, datetime.timedelta(0)))
        expect("psycopg: SHOW timezone", conn.execute("SHOW timezone").fetchone(), ("UTC",))
        conn.execute("SET TIME ZONE 'Europe/Berlin'")
        expect("psycopg: zone after SET", conn.execute("SHOW TimeZone").fetchone(), ("Europe/Berlin",))
        (value,) = conn.execute("SELECT '2024-01-01 10:00:00+02'::timestamptz").fetchone()
        expect("psycopg: timestamptz in Berlin", (value, value.utcoffset()), (written, datetime.timedelta(hours=1)))
        (now,) = conn.execute("SELECT now()").fetchone()
        expect("psycopg: now() has a zone", now.utcoffset() is not None, True)
        try:
            conn.execute("SET TIME ZONE 'Nowhere/Atlantis'")
            raise AssertionError("psycopg: an unknown time zone was accepted")
        except psycopg.errors.InvalidParameterValue:
            pass
        expect("psycopg: zone kept", conn.execute("SHOW timezone").fetchone(), ("Europe/Berlin",))


async def asyncpg_suite():
    conn = await asyncpg.connect(host=HOST, port=PORT, user="smackql", database="smackql")
    try:
        columns = ", ".join(NAMES)
        query = f'SELECT {columns} FROM "{KEYSPACE}".all_types WHERE id = $1'
        # A prepared statement, run more than once, reads binary results.
        statement = await conn.prepare(query)
        for run in range(3):
            rows = await statement.fetch(1)
            expect("asyncpg: rows", len(rows), 1)
            check_row("asyncpg", tuple(rows[0].values()), f" (run {run + 1})")
        rows = await conn.fetch(query, 2)
        check_nulls("asyncpg", tuple(rows[0].values()))
        # Parameters of several types; a uuid, a numeric and an array back.
        rows = await conn.fetch(
            f'SELECT c_uuid, c_decimal, c_list FROM "{KEYSPACE}".all_types '
            "WHERE c_text = $1 AND c_bigint = $2 AND c_date = $3",
            "it's; -- ünïcödé",
            -(2**63),
            datetime.date(2024, 2, 29),
        )
        expect(
            "asyncpg: query with parameters",
            [tuple(r.values()) for r in rows],
            [(uuid.UUID(UUID_A), Decimal("12345678901234567890.1234567891"), [3, 1, 2])],
        )
        # uuid parameters, as a UUID and as text.
        rows = await conn.fetch(
            f'SELECT id FROM "{KEYSPACE}".all_types WHERE c_uuid = $1 AND c_timeuuid = $2',
            uuid.UUID(UUID_A),
            TIMEUUID,
        )
        expect("asyncpg: query with uuid parameters", [tuple(r.values()) for r in rows], [(1,)])
        # A uuid[] parameter, which asyncpg sends in binary.
        rows = await conn.fetch(
            f'SELECT id FROM "{KEYSPACE}".all_types WHERE c_uuid = ANY($1)',
            [uuid.UUID(TIMEUUID), uuid.UUID(UUID_A)],
        )
        expect("asyncpg: uuid = ANY($1)", [tuple(r.values()) for r in rows], [(1,)])
    finally:
        await conn.close()


# What psqlODBC returns where ODBC's types differ from PostgreSQL's:
# booleans as characters, uuids as GUID text, arrays and intervals as their
# PostgreSQL text, and timestamps without their zone (in UTC).
ODBC_VALUES = {
    "c_boolean": "1",
    "c_duration": "1 mon 2 days 03:04:05.006007",
    "c_list": "{3,1,2}",
    "c_set": "{a,b}",
    "c_timestamp": datetime.datetime(2024, 10, 1, 12, 34, 56, 789000),
    "c_timeuuid": TIMEUUID.upper(),
    "c_uuid": UUID_A.upper(),
    "c_vector": "{0.5,1.5,2.5}",
}


def odbc_suite():
    conn = pyodbc.connect(
        f"DRIVER={{PostgreSQL Unicode}};SERVER={HOST};PORT={PORT};DATABASE=smackql;"
        "UID=smackql;PWD=unused;UseDeclareFetch=1;Fetch=1",
        autocommit=False,
    )
    try:
        cursor = conn.cursor()
        tables = [(t.table_schem, t.table_name, t.table_type) for t in cursor.tables(schema=KEYSPACE)]
        expect("odbc: SQLTables", tables, [(KEYSPACE, "all_types", "TABLE")])
        columns = [c.column_name for c in cursor.columns(table="all_types", schema=KEYSPACE)]
        expect("odbc: SQLColumns", columns, NAMES)
        keys = [(k.column_name, k.key_seq) for k in cursor.primaryKeys(table="all_types", schema=KEYSPACE)]
        expect("odbc: SQLPrimaryKeys", keys, [("id", 1)])
        indexes = [
            (s.index_name, s.column_name, s.non_unique)
            for s in cursor.statistics(table="all_types", schema=KEYSPACE)
            if s.index_name
        ]
        expect("odbc: SQLStatistics", indexes, [("all_types_pkey", "id", 0)])

        columns = ", ".join(NAMES)
        row = cursor.execute(f'SELECT {columns} FROM "{KEYSPACE}".all_types WHERE id = ?', 1).fetchone()
        values = dict(zip(NAMES, row))
        for name, _, want in COLUMNS:
            got = values[name]
            if name in ODBC_VALUES:
                want = ODBC_VALUES[name]
            elif name == "c_uuids":
                got = normalize(name, got.lower())
            else:
                got = normalize(name, got)
            if got != want:
                raise AssertionError(f"odbc: {name} is {values[name]!r}, want {want!r}")
        # Fetched a row at a time, through a cursor: every row comes.
        ids = sorted(r[0] for r in cursor.execute(f'SELECT id FROM "{KEYSPACE}".all_types').fetchall())
        expect("odbc: rows read in chunks", ids, [1, 2])
        conn.rollback()
    finally:
        conn.close()


def main():
    sqlalchemy_suite("psycopg")
    sqlalchemy_suite("psycopg2")
    psycopg_suite()
    asyncio.run(asyncpg_suite())
    odbc_suite()
    print("ok")


if __name__ == "__main__":
    main()
