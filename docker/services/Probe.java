// Readiness probe for docker/dev-services, run with the JDK's single-file
// source launcher. It waits until a service answers a real protocol request:
//
//   java Probe.java cql HOST PORT SECONDS    STARTUP, then SELECT release_version FROM system.local
//   java Probe.java kafka BOOTSTRAP SECONDS  an Admin describeCluster (a metadata request);
//                                            kafka-clients must be on the class path
//
// It prints what the service answered and exits 0, or exits 1 at the deadline
// with the last error.
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

public class Probe {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Probe cql HOST PORT SECONDS | Probe kafka BOOTSTRAP SECONDS");
            System.exit(2);
        }
        boolean cql = args[0].equals("cql");
        long deadline = System.nanoTime() + Long.parseLong(args[cql ? 3 : 2]) * 1_000_000_000L;
        String lastError = "no attempt made";
        while (System.nanoTime() < deadline) {
            try {
                String answer = cql
                    ? cqlReleaseVersion(args[1], Integer.parseInt(args[2]))
                    : kafkaBrokers(args[1]);
                System.out.println(answer);
                return;
            } catch (Exception e) {
                lastError = e.toString();
                Thread.sleep(500);
            }
        }
        System.err.println("not ready: " + lastError);
        System.exit(1);
    }

    // Native protocol v4 frames: version, flags, stream (2 bytes), opcode, body length.
    static String cqlReleaseVersion(String host, int port) throws Exception {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 2000);
            socket.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            DataInputStream in = new DataInputStream(socket.getInputStream());

            ByteArrayOutputStream startup = new ByteArrayOutputStream();
            DataOutputStream body = new DataOutputStream(startup);
            body.writeShort(1);
            writeString(body, "CQL_VERSION");
            writeString(body, "3.0.0");
            sendFrame(out, 0x01, startup.toByteArray());
            byte[] ready = readFrame(in, 0x02);

            ByteArrayOutputStream query = new ByteArrayOutputStream();
            body = new DataOutputStream(query);
            byte[] text = "SELECT release_version FROM system.local".getBytes(StandardCharsets.UTF_8);
            body.writeInt(text.length);
            body.write(text);
            body.writeShort(0x0001); // consistency ONE
            body.writeByte(0);       // no query flags
            sendFrame(out, 0x07, query.toByteArray());
            byte[] result = readFrame(in, 0x08);
            // A Rows result ends with the single text cell: [int length][bytes].
            DataInputStream r = new DataInputStream(new java.io.ByteArrayInputStream(result));
            if (r.readInt() != 0x0002) throw new IllegalStateException("not a Rows result");
            int flags = r.readInt();
            int columns = r.readInt();
            if ((flags & 0x0001) != 0) { readShortString(r); readShortString(r); }
            for (int i = 0; i < columns; i++) {
                if ((flags & 0x0001) == 0) { readShortString(r); readShortString(r); }
                readShortString(r);
                r.readShort();
            }
            if (r.readInt() != 1) throw new IllegalStateException("system.local has no row yet");
            byte[] version = new byte[r.readInt()];
            r.readFully(version);
            return "Cassandra " + new String(version, StandardCharsets.UTF_8);
        }
    }

    static void writeString(DataOutputStream out, String s) throws Exception {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeShort(b.length);
        out.write(b);
    }

    static String readShortString(DataInputStream in) throws Exception {
        byte[] b = new byte[in.readUnsignedShort()];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    static void sendFrame(DataOutputStream out, int opcode, byte[] body) throws Exception {
        out.writeByte(0x04);
        out.writeByte(0);
        out.writeShort(0);
        out.writeByte(opcode);
        out.writeInt(body.length);
        out.write(body);
        out.flush();
    }

    static byte[] readFrame(DataInputStream in, int expectedOpcode) throws Exception {
        in.readUnsignedByte();
        in.readUnsignedByte();
        in.readShort();
        int opcode = in.readUnsignedByte();
        byte[] body = new byte[in.readInt()];
        in.readFully(body);
        if (opcode == 0x00) {
            DataInputStream e = new DataInputStream(new java.io.ByteArrayInputStream(body));
            int code = e.readInt();
            throw new IllegalStateException("CQL error 0x" + Integer.toHexString(code) + ": " + readShortString(e));
        }
        if (opcode != expectedOpcode) {
            throw new IllegalStateException("unexpected CQL opcode 0x" + Integer.toHexString(opcode));
        }
        return body;
    }

    static String kafkaBrokers(String bootstrap) throws Exception {
        java.util.Properties props = new java.util.Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("request.timeout.ms", "3000");
        props.put("default.api.timeout.ms", "5000");
        // Loaded reflectively so the cql mode needs nothing on the class path.
        Class<?> admin = Class.forName("org.apache.kafka.clients.admin.Admin");
        Object client = admin.getMethod("create", java.util.Properties.class).invoke(null, props);
        try {
            Object cluster = admin.getMethod("describeCluster").invoke(client);
            Object nodes = cluster.getClass().getMethod("nodes").invoke(cluster);
            Object list = nodes.getClass().getMethod("get", long.class, java.util.concurrent.TimeUnit.class)
                .invoke(nodes, 5L, java.util.concurrent.TimeUnit.SECONDS);
            if (((java.util.Collection<?>) list).isEmpty()) throw new IllegalStateException("no brokers yet");
            return "Kafka brokers " + list;
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw (Exception) e.getCause();
        } finally {
            ((AutoCloseable) client).close();
        }
    }
}
