import Foundation

/// A throw-away PostgreSQL cluster for fleet tests: `initdb` into a temporary folder as the
/// unprivileged `postgres` user (PostgreSQL refuses to run as root), `pg_ctl start` on a free
/// loopback port with trust authentication, a `weir` role and database, and `stop()` (or
/// `deinit`) removes it all. Stop and start it again to play a database outage.
public final class PostgresServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private let binaries: URL
    private var running = false

    /// The URL a weir config names (`state.postgres`).
    public var url: String { "postgres://weir@127.0.0.1:\(port)/weir?sslmode=disable" }

    /// Creates and starts a cluster; throws with PostgreSQL's own words when it cannot.
    public init() async throws {
        guard let binaries = Self.findBinaries() else {
            throw PostgresServerError(
                "PostgreSQL's server programs (initdb, pg_ctl) are not installed; `make deps` installs postgresql")
        }
        self.binaries = binaries
        port = try await FreePort.find()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.run(["chown", "postgres:postgres", directory.path])
        try runAsPostgres([
            binaries.appendingPathComponent("initdb").path, "-D", dataDirectory, "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        ])
        try start()
        try psql("CREATE ROLE weir LOGIN")
        try psql("CREATE DATABASE weir OWNER weir")
    }

    deinit { try? stop(remove: true) }

    private var dataDirectory: String { directory.appendingPathComponent("data").path }

    /// Starts (or restarts) the server and waits until it accepts connections.
    public func start() throws {
        try runAsPostgres([
            binaries.appendingPathComponent("pg_ctl").path, "-D", dataDirectory, "-l",
            directory.appendingPathComponent("log").path, "-w", "-t", "30", "-o",
            "-p \(port) -h 127.0.0.1 -k \(directory.path) -c fsync=off -c max_connections=200", "start",
        ])
        running = true
    }

    /// Stops the server at once (`-m immediate`: every session ends, as when a database host dies).
    public func stop(remove: Bool = false) throws {
        if running {
            try runAsPostgres([
                binaries.appendingPathComponent("pg_ctl").path, "-D", dataDirectory, "-m", "immediate", "-w", "stop",
            ])
            running = false
        }
        if remove { try? FileManager.default.removeItem(at: directory) }
    }

    /// Runs SQL as the superuser in database `database`; its output (unaligned, tuples only).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        try runAsPostgres([
            "psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-At", "-v",
            "ON_ERROR_STOP=1",
            "-c", sql,
        ])
    }

    private func runAsPostgres(_ command: [String]) throws -> String {
        try Self.run(["runuser", "-u", "postgres", "--"] + command, in: directory)
    }

    /// Runs a command to its end and returns its output. Spawned with `posix_spawn` and reaped
    /// with `waitpid`: Foundation's `Process` notices a child's exit through a descriptor the
    /// child inherits, which the server `pg_ctl start` leaves behind would hold open for ever.
    @discardableResult
    private static func run(_ command: [String], in directory: URL? = nil) throws -> String {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "weir-pg-out-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Run in `directory` (the postgres user cannot read root's working directory).
        let command = directory.map { ["env", "-C", $0.path] + command } ?? command
        let arguments = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, command[0], &actions, nil, arguments, environ)
        guard spawned == 0 else {
            throw PostgresServerError("cannot run \(command[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = String(decoding: (try? Data(contentsOf: outputPath)) ?? Data(), as: UTF8.self)
        // Exited normally with status 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw PostgresServerError("\(command.joined(separator: " ")) failed: \(text)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Debian keeps the server programs out of PATH, under /usr/lib/postgresql/VERSION/bin.
    private static func findBinaries() -> URL? {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for version in versions.sorted(by: >) {
            let bin = root.appendingPathComponent(version).appendingPathComponent("bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("pg_ctl").path) { return bin }
        }
        return nil
    }
}

/// The test database could not be set up; says why.
public struct PostgresServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
