package hubs.neo4j;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * An embedded Neo4j Community DBMS for tests and CI, managed by hubs/servers/neo4j.py.
 *
 * <p>Usage: {@code java -cp 'target/classes:target/dependency/*' hubs.neo4j.Launcher --port N --data DIR
 * [--pagecache-mb M]}. Bolt listens on 127.0.0.1 only and authentication is off: this is a
 * loopback test server, never a shared one. Prints {@code READY bolt://127.0.0.1:N} once a
 * Bolt client can connect and the default database answers; SIGTERM (or Ctrl-C) shuts the DBMS
 * down cleanly through a shutdown hook, so the store is never left needing recovery.
 */
public final class Launcher {
    private static final String HOST = "127.0.0.1";
    private static final long READY_TIMEOUT_MS = 120_000;

    private Launcher() {}

    public static void main(String[] args) {
        int port = -1;
        Path data = null;
        // Small by default: the machine runs PostgreSQL, Redis and the tests next to this.
        long pageCacheMb = 256;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--port" -> port = Integer.parseInt(value(args, ++i, "--port"));
                    case "--data" -> data = Path.of(value(args, ++i, "--data")).toAbsolutePath();
                    case "--pagecache-mb" -> pageCacheMb = Long.parseLong(value(args, ++i, "--pagecache-mb"));
                    default -> throw new IllegalArgumentException("unknown argument " + args[i]);
                }
            }
            if (port <= 0 || port > 65535 || data == null) {
                throw new IllegalArgumentException("--port N (1-65535) and --data DIR are required");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("hubs.neo4j.Launcher: " + e.getMessage());
            System.err.println("usage: Launcher --port N --data DIR [--pagecache-mb M]");
            System.exit(2);
            return;
        }
        try {
            run(port, data, pageCacheMb);
        } catch (Throwable e) {
            // Neo4j may have started non-daemon threads before failing: exit explicitly so a
            // failed start is an exit code (which the Python side reports with the log), not a hang.
            System.err.println("hubs.neo4j.Launcher: Neo4j failed to start: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }

    private static void run(int port, Path data, long pageCacheMb) throws Exception {
        Files.createDirectories(data);
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(data)
                // Neo4j's user log (startup, errors) to stdout, i.e. HUBS_HOME/logs/neo4j.log.
                .setUserLogProvider(new Log4jLogProvider(System.out))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(HOST, port))
                .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress(HOST))
                .setConfig(GraphDatabaseSettings.default_advertised_address, new SocketAddress(HOST))
                // Loopback-only test server: no users, no passwords.
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                // Only Bolt: no HTTP(S) ports, no server-side routing port (7688), which would
                // collide between parallel test servers.
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.routing_enabled, false)
                // No usage reports to the internet (this machine reaches none anyway).
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb))
                // Disposable test data: no 256 MB preallocated transaction logs, no log history,
                // no page-cache warm-up profiles written in the background.
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "keep_none")
                .setConfig(GraphDatabaseSettings.pagecache_warmup_enabled, false)
                // Bolt closes last, after every database has checkpointed; its default grace
                // periods (5 s + 5 s) would only make each stop ten seconds slower. (Neo4j then
                // logs a harmless WARN "Termination of ... event loop group has exceeded ...".)
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("hubs.neo4j.Launcher: shutting down");
            try {
                dbms.shutdown();
            } finally {
                stopped.countDown();
                System.out.println("hubs.neo4j.Launcher: stopped");
                System.out.flush();
            }
        }, "hubs-neo4j-shutdown"));

        waitForBolt(port);
        // The default database must answer too, not only the socket: a client that connects
        // right after READY can run queries.
        dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
        System.out.println("READY bolt://" + HOST + ":" + port);
        System.out.flush();
        stopped.await();
    }

    private static void waitForBolt(int port) throws InterruptedException {
        long deadline = System.currentTimeMillis() + READY_TIMEOUT_MS;
        while (true) {
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(HOST, port), 1000);
                return;
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("Bolt did not accept connections on port " + port, e);
                }
                Thread.sleep(100);
            }
        }
    }
}
