// Drives smackql's Postgres wire front end with pgjdbc, the driver DBeaver,
// Metabase and most JVM tools use.
//
// Usage: java -cp postgresql.jar PgJdbc.java HOST PORT KEYSPACE
//
// The keyspace holds the all-types table `all_types` (tests/src/all_types.rs):
// row 1 has a value of every CQL type, row 2 only nulls. The program reads
// the catalog the way tools browse it, then every value, through a
// PreparedStatement run past pgjdbc's prepareThreshold, so that both the
// text and the binary result formats are read. Any mismatch throws, and the
// process exits non-zero; on success it prints "ok".

import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;

import org.postgresql.util.PGInterval;

public class PgJdbc {
    /// Every column of all_types and the PostgreSQL type it is sent as.
    static final Map<String, String> TYPES = new LinkedHashMap<>();

    static {
        String[] pairs = {
            "id", "int4", "c_ascii", "text", "c_bigint", "int8", "c_blob", "bytea",
            "c_boolean", "bool", "c_costs", "json", "c_date", "date", "c_decimal", "numeric",
            "c_double", "float8", "c_duration", "interval", "c_float", "float4", "c_inet", "inet",
            "c_int", "int4", "c_list", "_int4", "c_map", "json", "c_nested", "json",
            "c_set", "_text", "c_smallint", "int2", "c_text", "text", "c_time", "time",
            "c_timestamp", "timestamptz", "c_timeuuid", "uuid", "c_tinyint", "int2",
            "c_tuple", "record", "c_udt", "record", "c_uuid", "uuid", "c_uuids", "_uuid",
            "c_varint", "numeric", "c_vector", "_float4",
        };
        for (int i = 0; i < pairs.length; i += 2) {
            TYPES.put(pairs[i], pairs[i + 1]);
        }
    }

    static final UUID UUID_A = UUID.fromString("123e4567-e89b-12d3-a456-426614174000");
    static final UUID TIMEUUID = UUID.fromString("50554d6e-29bb-11e5-b345-feff819cdc9f");

    public static void main(String[] args) throws Exception {
        String host = args[0], port = args[1], keyspace = args[2];
        String url = "jdbc:postgresql://" + host + ":" + port + "/smackql?user=smackql";
        try (Connection conn = DriverManager.getConnection(url)) {
            DatabaseMetaData meta = conn.getMetaData();
            expect("product", meta.getDatabaseProductName(), "PostgreSQL");
            expect("major version", meta.getDatabaseMajorVersion(), 16);

            schemas(meta, keyspace);
            tables(meta, keyspace);
            columns(meta, keyspace);
            keys(meta, keyspace);
            typeInfo(meta);
            values(conn, keyspace);
            parameters(conn, keyspace);
        }
        System.out.println("ok");
    }

    static void schemas(DatabaseMetaData meta, String keyspace) throws SQLException {
        List<String> all = strings(meta.getSchemas(), "TABLE_SCHEM");
        check(all.contains(keyspace) && all.contains("pg_catalog"), "getSchemas: " + all);
        expect("getSchemas(pattern)", strings(meta.getSchemas(null, keyspace), "TABLE_SCHEM"), List.of(keyspace));
    }

    static void tables(DatabaseMetaData meta, String keyspace) throws SQLException {
        List<String> tables = new ArrayList<>();
        try (ResultSet rs = meta.getTables(null, keyspace, "%", new String[] {"TABLE", "VIEW", "MATERIALIZED VIEW"})) {
            while (rs.next()) {
                tables.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
            }
        }
        expect("getTables", tables, List.of("all_types:TABLE"));
    }

    static void columns(DatabaseMetaData meta, String keyspace) throws SQLException {
        Map<String, String> types = new LinkedHashMap<>();
        try (ResultSet rs = meta.getColumns(null, keyspace, "all_types", "%")) {
            while (rs.next()) {
                String name = rs.getString("COLUMN_NAME");
                types.put(name, rs.getString("TYPE_NAME"));
                int nullable = rs.getInt("NULLABLE");
                int wanted = name.equals("id") ? DatabaseMetaData.columnNoNulls : DatabaseMetaData.columnNullable;
                expect("NULLABLE of " + name, nullable, wanted);
            }
        }
        expect("getColumns", types, TYPES);
    }

    static void keys(DatabaseMetaData meta, String keyspace) throws SQLException {
        List<String> primary = new ArrayList<>();
        try (ResultSet rs = meta.getPrimaryKeys(null, keyspace, "all_types")) {
            while (rs.next()) {
                primary.add(rs.getString("COLUMN_NAME") + ":" + rs.getInt("KEY_SEQ") + ":" + rs.getString("PK_NAME"));
            }
        }
        expect("getPrimaryKeys", primary, List.of("id:1:all_types_pkey"));

        List<String> indexes = new ArrayList<>();
        try (ResultSet rs = meta.getIndexInfo(null, keyspace, "all_types", false, false)) {
            while (rs.next()) {
                indexes.add(rs.getString("INDEX_NAME") + ":" + rs.getBoolean("NON_UNIQUE") + ":"
                    + rs.getString("COLUMN_NAME") + ":" + rs.getInt("ORDINAL_POSITION") + ":"
                    + rs.getString("ASC_OR_DESC"));
            }
        }
        expect("getIndexInfo", indexes, List.of("all_types_pkey:false:id:1:A"));

        // Cassandra has no foreign keys; Metabase asks for them anyway.
        expect("getImportedKeys", strings(meta.getImportedKeys(null, keyspace, "all_types"), "FK_NAME"), List.of());
        expect("getExportedKeys", strings(meta.getExportedKeys(null, keyspace, "all_types"), "FK_NAME"), List.of());
    }

    static void typeInfo(DatabaseMetaData meta) throws SQLException {
        Set<String> names = new HashSet<>(strings(meta.getTypeInfo(), "TYPE_NAME"));
        for (String type : new HashSet<>(TYPES.values())) {
            check(names.contains(type), "getTypeInfo lacks " + type);
        }
    }

    /// Reads rows 1 and 2 ten times with one PreparedStatement: pgjdbc
    /// switches to a named server-side statement and binary results after
    /// five executions.
    static void values(Connection conn, String keyspace) throws Exception {
        String columns = String.join(", ", TYPES.keySet());
        String sql = "SELECT " + columns + " FROM \"" + keyspace + "\".all_types WHERE id = ?";
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            for (int run = 1; run <= 10; run++) {
                ps.setInt(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "run " + run + ": no row 1");
                    describe(rs.getMetaData(), run);
                    row1(rs, "run " + run + ": ");
                    check(!rs.next(), "run " + run + ": more than one row");
                }
                ps.setInt(1, 2);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "run " + run + ": no row 2");
                    expect("run " + run + ": id", rs.getInt(1), 2);
                    for (int i = 2; i <= TYPES.size(); i++) {
                        Object value = rs.getObject(i);
                        check(value == null && rs.wasNull(), "run " + run + ": column " + i + " is not null: " + value);
                    }
                }
            }
        }
    }

    static void describe(ResultSetMetaData md, int run) throws SQLException {
        expect("column count", md.getColumnCount(), TYPES.size());
        int i = 1;
        for (Map.Entry<String, String> column : TYPES.entrySet()) {
            expect("run " + run + ": name of column " + i, md.getColumnName(i), column.getKey());
            expect("run " + run + ": type of " + column.getKey(), md.getColumnTypeName(i), column.getValue());
            i++;
        }
    }

    static void row1(ResultSet rs, String at) throws Exception {
        expect(at + "c_ascii", rs.getString("c_ascii"), "plain ascii");
        expect(at + "c_bigint", rs.getLong("c_bigint"), Long.MIN_VALUE);
        expect(at + "c_blob", Arrays.toString(rs.getBytes("c_blob")), Arrays.toString(new byte[] {0x00, (byte) 0xff, 0x10}));
        expect(at + "c_boolean", rs.getBoolean("c_boolean"), true);
        expect(at + "c_date", rs.getObject("c_date", LocalDate.class), LocalDate.of(2024, 2, 29));
        expectNumber(at + "c_decimal", rs.getBigDecimal("c_decimal"), "12345678901234567890.1234567891");
        expect(at + "c_double", rs.getDouble("c_double"), 2.718281828459045);
        // PostgreSQL's interval keeps microseconds: the 8 ns are cut.
        PGInterval duration = (PGInterval) rs.getObject("c_duration");
        expect(at + "c_duration", List.of(duration.getYears(), duration.getMonths(), duration.getDays(),
            duration.getHours(), duration.getMinutes(), duration.getWholeSeconds(), duration.getMicroSeconds()),
            List.of(0, 1, 2, 3, 4, 5, 6007));
        expect(at + "c_float", rs.getFloat("c_float"), 1.5f);
        expect(at + "c_inet", rs.getString("c_inet"), "2001:db8::1");
        expect(at + "c_int", rs.getInt("c_int"), Integer.MIN_VALUE);
        expect(at + "c_smallint", rs.getShort("c_smallint"), (short) -32768);
        expect(at + "c_text", rs.getString("c_text"), "it's; -- ünïcödé");
        // PostgreSQL's time keeps microseconds.
        expect(at + "c_time", rs.getObject("c_time", LocalTime.class), LocalTime.parse("13:14:15.123456"));
        expect(at + "c_timestamp", rs.getObject("c_timestamp", OffsetDateTime.class).toInstant(),
            Instant.parse("2024-10-01T12:34:56.789Z"));
        expect(at + "c_timeuuid", rs.getObject("c_timeuuid"), TIMEUUID);
        expect(at + "c_tinyint", rs.getShort("c_tinyint"), (short) -128);
        expect(at + "c_uuid", rs.getObject("c_uuid"), UUID_A);
        expectNumber(at + "c_varint", rs.getBigDecimal("c_varint"), "-123456789012345678901234567890123456");
        expect(at + "c_list", array(rs, "c_list"), List.of(3, 1, 2));
        expect(at + "c_set", array(rs, "c_set"), List.of("a", "b"));
        expect(at + "c_map", rs.getString("c_map"), "{\"x\":1,\"y\":2}");
        expect(at + "c_tuple", rs.getString("c_tuple"), "(7,seven)");
        expect(at + "c_udt", rs.getString("c_udt"), "(1.5,-2.5)");
        expect(at + "c_vector", array(rs, "c_vector"), List.of(0.5f, 1.5f, 2.5f));
        expect(at + "c_nested", rs.getString("c_nested"), "[[1],[2,3]]");
        expect(at + "c_uuids", new HashSet<>(array(rs, "c_uuids")), Set.of(UUID_A, TIMEUUID));
        // A map of uuid to decimal is JSON; the decimal is exact.
        String costs = rs.getString("c_costs");
        String prefix = "{\"" + UUID_A + "\":";
        check(costs.startsWith(prefix) && costs.endsWith("}"), at + "c_costs: " + costs);
        expectNumber(at + "c_costs value", new BigDecimal(costs.substring(prefix.length(), costs.length() - 1)), "0.5");
    }

    /// Parameters of several types, bound by pgjdbc as typed values.
    static void parameters(Connection conn, String keyspace) throws Exception {
        String sql = "SELECT id FROM \"" + keyspace + "\".all_types "
            + "WHERE c_text = ? AND c_bigint = ? AND c_date = ? AND c_boolean = ?";
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            for (int run = 1; run <= 6; run++) {
                ps.setString(1, "it's; -- ünïcödé");
                ps.setLong(2, Long.MIN_VALUE);
                ps.setObject(3, LocalDate.of(2024, 2, 29));
                ps.setBoolean(4, true);
                expect("parameters, run " + run, strings(ps.executeQuery(), "id"), List.of("1"));
            }
        }
    }

    static List<Object> array(ResultSet rs, String column) throws SQLException {
        Array array = rs.getArray(column);
        return Arrays.asList((Object[]) array.getArray());
    }

    static List<String> strings(ResultSet rs, String column) throws SQLException {
        List<String> out = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                out.add(rs.getString(column));
            }
        }
        return out;
    }

    static void expectNumber(String what, BigDecimal got, String want) {
        check(got != null && got.compareTo(new BigDecimal(want)) == 0, what + ": got " + got + ", want " + want);
    }

    static void expect(String what, Object got, Object want) {
        check(Objects.equals(got, want), what + ": got " + got + ", want " + want);
    }

    static void check(boolean ok, String message) {
        if (!ok) {
            throw new AssertionError(message);
        }
    }
}
