import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization
import WeirConfig
import WeirCore

/// The fleet's PostgreSQL database: a small connection pool (postgres-nio's `PostgresClient`) on
/// an event loop of its own, the versioned migrations, and a bounded wait for every operation —
/// a database that stops answering makes an operation fail within `operationTimeout`, never hang
/// the caller.
public final class PostgresDatabase: Sendable {
    public let url: PostgresURL
    let client: PostgresClient
    let connectionConfiguration: PostgresConnection.Configuration
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let runner: Task<Void, Never>
    /// The longest any one operation waits for the database.
    public let operationTimeout: Duration = .seconds(3)

    /// Connects lazily (the first operation opens a connection); `password` from
    /// `state.password_file` or `WEIR_POSTGRES_PASSWORD`.
    public init(url: PostgresURL, password: String?, logger: Logger) throws {
        self.url = url
        // postgres-nio tells of every failed connection attempt at `info`; the fleet says it once.
        var logger = logger
        logger.logLevel = max(logger.logLevel, .warning)
        self.logger = logger
        let tls: PostgresClient.Configuration.TLS
        let connectionTLS: PostgresConnection.Configuration.TLS
        switch url.sslMode {
        case .disable:
            tls = .disable
            connectionTLS = .disable
        case .prefer, .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            tls = url.sslMode == .prefer ? .prefer(configuration) : .require(configuration)
            let context = try NIOSSLContext(configuration: configuration)
            connectionTLS = url.sslMode == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            let configuration = TLSConfiguration.makeClientConfiguration()
            tls = .require(configuration)
            connectionTLS = .require(try NIOSSLContext(configuration: configuration))
        }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: password, database: url.database, tls: tls)
        configuration.options.connectTimeout = .seconds(2)
        configuration.options.additionalStartupParameters = Self.sessionLimits
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 4
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        client = PostgresClient(configuration: configuration, eventLoopGroup: group, backgroundLogger: logger)
        var session = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: password, database: url.database,
            tls: connectionTLS)
        session.options.additionalStartupParameters = Self.sessionLimits
        session.options.connectTimeout = .seconds(2)
        connectionConfiguration = session
        let client = self.client
        runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

    /// Runs `body` in one transaction on a pooled connection; an error `body` throws (such as a
    /// `RolloutConflict`) comes out as itself, not wrapped.
    func transaction<T: Sendable>(_ body: @escaping (PostgresConnection) async throws -> sending T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger, body)
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    /// Runs `body` with at most `operationTimeout` to finish: after it the caller gets a
    /// `DatabaseTimeout` at once, whatever `body` is still waiting for (postgres-nio cannot cancel
    /// a query once sent; the server's own `statement_timeout` and `lock_timeout` end it there).
    /// Any other failure comes as a `DatabaseError` that says what happened (postgres-nio's own
    /// errors print a generic text), except a `RolloutConflict`, which callers act on.
    @discardableResult
    func bounded<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = operationTimeout
        let outcome = FirstOutcome<T>()
        return try await withCheckedThrowingContinuation { continuation in
            outcome.waiting(continuation)
            let work = Task {
                do {
                    outcome.finish(.success(try await body()))
                } catch let error as RolloutConflict {
                    outcome.finish(.failure(error))
                } catch let error as DatabaseTimeout {
                    outcome.finish(.failure(error))
                } catch {
                    outcome.finish(.failure(DatabaseError(operation: what, error: error)))
                }
            }
            let timer = Task {
                try await Task.sleep(for: timeout)
                work.cancel()
                outcome.finish(.failure(DatabaseTimeout(operation: what, timeout: timeout)))
            }
            outcome.onFinish { timer.cancel() }
        }
    }

    /// Runs `body` and waits for it on the calling thread — for the synchronous `RolloutStore`
    /// methods, which `RolloutStoreWriter` calls on its own dispatch queues, never on Swift's
    /// cooperative threads (blocking one of those could starve the very task it waits for).
    @discardableResult
    func blocking<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let result = ResultBox<T>()
        let task = Task {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await self.bounded(what, body)) } catch { outcome = .failure(error) }
            result.set(outcome)
            semaphore.signal()
        }
        if semaphore.wait(timeout: .now() + .seconds(Int(operationTimeout.components.seconds) + 2)) == .timedOut {
            task.cancel()
            throw DatabaseTimeout(operation: what, timeout: operationTimeout)
        }
        return try result.get()
    }

    /// Opens a connection of its own, outside the pool: for a session that must stay one session
    /// (the judge's advisory lock, LISTEN).
    func openSession(id: Int) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            on: group.next(), configuration: connectionConfiguration, id: id, logger: logger)
    }

    /// Limits every weir session asks the server for, so a stuck statement, a held row lock, a
    /// transaction left open or a client that vanished (a crashed host, a dropped link) is ended
    /// by the server within seconds — which also frees the judge's advisory lock for another
    /// instance. (PostgreSQL 12 or later.)
    static let sessionLimits: [(String, String)] = [
        ("statement_timeout", "3000"),
        ("lock_timeout", "2000"),
        ("idle_in_transaction_session_timeout", "5000"),
        ("tcp_keepalives_idle", "2"),
        ("tcp_keepalives_interval", "1"),
        ("tcp_keepalives_count", "3"),
        ("tcp_user_timeout", "5000"),
    ]

    // MARK: Migrations

    /// The schema, one migration at a time, each applied once, in a transaction, by whichever
    /// instance gets there first (the others wait on an advisory lock and find it done).
    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1: fleet rollout state, events, judge, instances and counts",
            [
                """
                CREATE TABLE weir_rollout_state (
                    route TEXT PRIMARY KEY, phase TEXT NOT NULL, step INTEGER NOT NULL, stable TEXT NOT NULL,
                    canary TEXT, previous_stable TEXT, pinned_percent DOUBLE PRECISION,
                    consecutive_failures INTEGER NOT NULL, updated_at BIGINT NOT NULL, version BIGINT NOT NULL)
                """,
                """
                CREATE TABLE weir_rollout_events (
                    id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, route TEXT NOT NULL, from_phase TEXT NOT NULL,
                    to_phase TEXT NOT NULL, from_step INTEGER NOT NULL, to_step INTEGER NOT NULL, weights TEXT NOT NULL,
                    actor TEXT NOT NULL, reason TEXT NOT NULL, kind TEXT NOT NULL, instance TEXT NOT NULL)
                """,
                "CREATE INDEX weir_rollout_events_by_route ON weir_rollout_events (route, id)",
                """
                CREATE TABLE weir_rollout_judge (
                    route TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE weir_instances (
                    id TEXT PRIMARY KEY, address TEXT NOT NULL, started_at BIGINT NOT NULL,
                    last_seen TIMESTAMPTZ NOT NULL, reported_through BIGINT NOT NULL, judge BOOLEAN NOT NULL,
                    routes TEXT NOT NULL)
                """,
                """
                CREATE TABLE weir_counts (
                    instance TEXT NOT NULL, route TEXT NOT NULL, version TEXT NOT NULL, pinned BOOLEAN NOT NULL,
                    second BIGINT NOT NULL, weight INTEGER NOT NULL, stats TEXT NOT NULL,
                    PRIMARY KEY (instance, route, version, pinned, second, weight))
                """,
                "CREATE INDEX weir_counts_by_second ON weir_counts (second)",
            ]
        )
    ]

    /// Applies the migrations this database lacks; the names applied, oldest first.
    public func migrate() async throws -> [String] {
        try await bounded("migrate") {
            try await self.transaction { connection in
                // One instance migrates at a time; the lock ends with the transaction.
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: self.logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS weir_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: self.logger)
                var applied: [String] = []
                for try await name in try await connection.query(
                    "SELECT name FROM weir_migrations ORDER BY applied_at, name", logger: self.logger
                ).decode(String.self) {
                    applied.append(name)
                }
                for migration in Self.migrations where !applied.contains(migration.name) {
                    for statement in migration.sql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                    }
                    try await connection.query(
                        "INSERT INTO weir_migrations (name) VALUES (\(migration.name))", logger: self.logger)
                    applied.append(migration.name)
                }
                return applied
            }
        }
    }

    static let migrationLockKey: Int64 = 0x7765_6972_6d69_67  // "weirmig"
    /// The session-level advisory lock the judging instance holds.
    static let judgeLockKey: Int64 = 0x7765_6972_6a75_64  // "weirjud"
    /// The channel every committed rollout change is announced on (payload: the route).
    static let channel = "weir_rollout"
}

/// A database operation did not finish in time (the database is down, stopped or unreachable).
public struct DatabaseTimeout: StoreOutcomeUnknown, Sendable, CustomStringConvertible {
    public var operation: String
    public var timeout: Duration
    public var description: String { "PostgreSQL did not answer \(operation) within \(timeout)" }
}

/// A database operation failed; says which and why, in PostgreSQL's words where it has some.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var detail: String

    init(operation: String, error: any Error) {
        self.operation = operation
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                detail = message
            } else if let underlying = error.underlying {
                detail = "\(underlying)"
            } else {
                detail = "\(error.code)"
            }
        } else {
            detail = "\(error)"
        }
    }

    public var description: String { "PostgreSQL failed to \(operation): \(String(detail.prefix(300)))" }
}

/// The first of several racing outcomes, handed to one waiting continuation; later ones are dropped.
final class FirstOutcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var cleanup: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    func waiting(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Runs `cleanup` once the outcome is known (at once when it already is).
    func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let done = state.withLock { state -> Bool in
            if state.result != nil { return true }
            state.cleanup = cleanup
            return false
        }
        if done { cleanup() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, cleanup) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard state.result == nil else { return (nil, nil) }
            state.result = result
            defer {
                state.continuation = nil
                state.cleanup = nil
            }
            return (state.continuation, state.cleanup)
        }
        continuation?.resume(with: result)
        cleanup?()
    }
}

/// Carries a result from the task that produced it to the thread that waits for it.
final class ResultBox<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)

    func set(_ result: Result<T, any Error>) { value.withLock { $0 = result } }

    func get() throws -> T {
        guard let result = value.withLock({ $0 }) else { throw CancellationError() }
        return try result.get()
    }
}
