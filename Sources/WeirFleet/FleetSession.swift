import Logging
import PostgresNIO

/// This instance's one long-lived database session: it holds the judge's session-level advisory
/// lock when this instance judges, and listens on `weir_rollout` for committed changes. When the
/// session ends (this process dies, or the database or network drops it), PostgreSQL releases the
/// lock and another instance takes it on its next beat.
public actor FleetSession {
    private let database: PostgresDatabase
    private var connection: PostgresConnection?
    private var listener: Task<Void, Never>?
    private var nextID = 1
    /// Whether this instance holds the judge's lock (as of the last beat).
    public private(set) var isJudge = false
    /// The routes named by each committed change, as they arrive.
    public nonisolated let notifications: AsyncStream<String>
    private let notify: AsyncStream<String>.Continuation

    public init(database: PostgresDatabase) {
        self.database = database
        (notifications, notify) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(64))
    }

    /// (Re)opens the session and listens when needed, then tries the lock or proves it still holds
    /// it; whether this instance judges now. Any failure ends the session (and the lock with it).
    @discardableResult
    public func beat() async -> Bool {
        do {
            let connection = try await openIfNeeded()
            let database = self.database
            if isJudge {
                try await database.bounded("judge session check") {
                    try await connection.query("SELECT 1", logger: database.logger)
                }
            } else {
                isJudge = try await database.bounded("judge lock") {
                    var held = false
                    for try await value in try await connection.query(
                        "SELECT pg_try_advisory_lock(\(PostgresDatabase.judgeLockKey))", logger: database.logger
                    ).decode(Bool.self) {
                        held = value
                    }
                    return held
                }
            }
        } catch {
            database.logger.debug("fleet session lost", metadata: ["error": "\(error)"])
            await close()
        }
        return isJudge
    }

    /// Ends the session (releasing the lock): on shutdown, and after any failure.
    public func close() async {
        isJudge = false
        listener?.cancel()
        listener = nil
        if let connection {
            self.connection = nil
            try? await connection.close()
        }
    }

    private func openIfNeeded() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        await close()
        nextID += 1
        let id = nextID
        let database = self.database
        let connection = try await database.bounded("open the fleet session") { try await database.openSession(id: id) }
        self.connection = connection
        let notify = self.notify
        let channel = PostgresDatabase.channel
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        listener = Task {
            do {
                try await connection.listen(on: channel) { notifications in
                    readyContinuation.finish()
                    for try await notification in notifications { notify.yield(notification.payload) }
                }
            } catch {
                database.logger.debug("fleet notifications stopped", metadata: ["error": "\(error)"])
            }
            readyContinuation.finish()
        }
        do {
            try await database.bounded("listen for rollout changes") { for await _ in ready {} }
        } catch {
            try? await connection.close()
            throw error
        }
        return connection
    }
}
