// Drives smackql's Flight SQL front end with the Flight SQL JDBC driver.
//
// Usage: java -cp flight-sql-jdbc-driver.jar FlightJdbc.java HOST PORT USER PASSWORD KEYSPACE
//
// The keyspace holds table campaigns (id int PRIMARY KEY, name text, views
// bigint) with rows 1..3. Prints one "key: value" line per finding; any
// failure throws, and the process exits non-zero.

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

public class FlightJdbc {
    public static void main(String[] args) throws Exception {
        String host = args[0], port = args[1], user = args[2], password = args[3], keyspace = args[4];
        String url = "jdbc:arrow-flight-sql://" + host + ":" + port + "/?useEncryption=false";
        try (Connection conn = DriverManager.getConnection(url, user, password)) {
            DatabaseMetaData meta = conn.getMetaData();
            System.out.println("product: " + meta.getDatabaseProductName() + " " + meta.getDatabaseProductVersion());
            System.out.println("quote: " + meta.getIdentifierQuoteString());

            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, keyspace, "%", null)) {
                while (rs.next()) {
                    tables.add(rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
                }
            }
            System.out.println("tables: " + String.join(",", tables));

            List<String> columns = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(null, keyspace, "campaigns", "%")) {
                while (rs.next()) {
                    columns.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
                }
            }
            System.out.println("columns: " + String.join(",", columns));

            List<String> keys = new ArrayList<>();
            try (ResultSet rs = meta.getPrimaryKeys(null, keyspace, "campaigns")) {
                while (rs.next()) {
                    keys.add(rs.getString("COLUMN_NAME") + ":" + rs.getInt("KEY_SEQ"));
                }
            }
            System.out.println("primary_key: " + String.join(",", keys));

            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT id, name, views FROM " + keyspace + ".campaigns ORDER BY id")) {
                List<String> rows = new ArrayList<>();
                while (rs.next()) {
                    rows.add(rs.getInt(1) + "/" + rs.getString(2) + "/" + rs.getLong(3));
                }
                System.out.println("query: " + String.join(",", rows));
            }

            // A full scan: several endpoints, which the driver reads in turn.
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT k, c FROM " + keyspace + ".mixed")) {
                List<String> rows = new ArrayList<>();
                while (rs.next()) {
                    rows.add(rs.getInt(1) + "/" + rs.getInt(2));
                }
                rows.sort(null);
                System.out.println("full_scan: " + String.join(",", rows));
            }

            try (PreparedStatement ps = conn.prepareStatement("SELECT name, views FROM " + keyspace + ".campaigns WHERE id = ?")) {
                ps.setInt(1, 2);
                try (ResultSet rs = ps.executeQuery()) {
                    List<String> rows = new ArrayList<>();
                    while (rs.next()) {
                        rows.add(rs.getString(1) + "/" + rs.getLong(2));
                    }
                    System.out.println("prepared: " + String.join(",", rows));
                }
            }

            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + keyspace + ".campaigns (id, name, views) VALUES (?, ?, ?)")) {
                ps.setInt(1, 5);
                ps.setString(2, "epsilon");
                ps.setLong(3, 50L);
                System.out.println("inserted: " + ps.executeUpdate());
            }
        }
    }
}
