import Foundation
import NIOHTTP1
import Synchronization
import WeirTesting

/// A fleet for tests (CONTRACT §9): `count` `weir serve` processes named a, b, c… on one
/// throw-away PostgreSQL cluster, each with its own ports and folder.
final class Fleet {
    let database: PostgresServer
    private(set) var members: [WeirProcess] = []
    let names: [String]

    /// `routesOf` gives some members (by name) a config of their own.
    init(routes: String, count: Int = 3, token: String? = "tok", routesOf: [String: String] = [:]) async throws {
        database = try await PostgresServer()
        names = Array(["a", "b", "c", "d"].prefix(count))
        for name in names {
            members.append(
                try await WeirProcess(
                    routes: routesOf[name] ?? routes, token: token,
                    state: "{ postgres: \"\(database.url)\", instance: \(name) }"))
        }
        try await waitUntilFormed()
    }

    /// Waits until every member sees every member alive (the heartbeats of a second or two).
    private func waitUntilFormed() async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            var formed = true
            for member in members {
                let (_, json) = try await member.admin("GET", "/v1/routes", token: member.token)
                let alive = (json["instances"] as? [[String: Any]] ?? []).filter { $0["alive"] as? Bool == true }
                if alive.count < members.count { formed = false }
            }
            if formed { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw PostgresServerError("the fleet's \(members.count) instances did not all see each other within 15 s")
    }

    func stop() async {
        for member in members { await member.stop() }
        try? database.stop(remove: true)
    }

    /// Runs `body` with a started fleet and stops it afterwards, also when `body` throws.
    static func with<T>(
        routes: String, count: Int = 3, routesOf: [String: String] = [:], _ body: (Fleet) async throws -> T
    ) async throws -> T {
        let fleet = try await Fleet(routes: routes, count: count, routesOf: routesOf)
        do {
            let result = try await body(fleet)
            await fleet.stop()
            return result
        } catch {
            await fleet.stop()
            throw error
        }
    }

    /// One stored event, as PostgreSQL holds it.
    struct StoredEvent: CustomStringConvertible {
        var id: Int
        var kind: String
        var from: String
        var fromStep: Int
        var to: String
        var toStep: Int
        var actor: String
        var instance: String
        var atMillis: Int64
        var description: String { "#\(id) \(kind) \(from)/\(fromStep) -> \(to)/\(toStep) by \(actor) on \(instance)" }
    }

    /// The route's audit log straight from the database, oldest first.
    func events(route: String = "fraud") throws -> [StoredEvent] {
        try database.psql(
            "SELECT id, kind, from_phase, from_step, to_phase, to_step, actor, instance, at FROM weir_rollout_events WHERE route = '\(route)' ORDER BY id",
            database: "weir"
        ).split(separator: "\n").map { line in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            return StoredEvent(
                id: Int(f[0]) ?? 0, kind: f[1], from: f[2], fromStep: Int(f[3]) ?? -1, to: f[4],
                toStep: Int(f[5]) ?? -1,
                actor: f[6], instance: f[7], atMillis: Int64(f[8]) ?? 0)
        }
    }

    /// The member the database names as holding the judge's lock, if any.
    func judge() throws -> WeirProcess? {
        let holder = try database.psql(
            "SELECT id FROM weir_instances WHERE judge AND last_seen > now() - interval '3 seconds'", database: "weir")
        guard let index = names.firstIndex(of: holder), members[index].child != nil else { return nil }
        return members[index]
    }

    /// The canary's weight (percent) a member routes by now.
    static func canaryWeight(of member: WeirProcess, route: String = "fraud") async throws -> Double? {
        let (status, json) = try await member.admin("GET", "/v1/routes/\(route)", token: member.token)
        guard status == 200, let weights = json["weights"] as? [String: Double] else { return nil }
        return weights["v2"]
    }

    /// Polls until every live member routes the canary at `weight`; how long that took (nil: not
    /// within `limit`).
    func waitForCanaryWeight(_ weight: Double, limit: Duration, route: String = "fraud") async throws -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            var all = true
            for member in members where member.child != nil {
                if try await Self.canaryWeight(of: member, route: route) != weight { all = false }
            }
            if all { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}

/// Steady traffic spread over several weir data planes until stopped: every answer counted by
/// status and by the version that served it (`x-weir-version`), and every failure kept.
final class SpreadLoad: Sendable {
    struct Tally: Sendable {
        var ok = 0
        var failed: [String] = []
        var byVersion: [String: Int] = [:]
        /// Answers by the weir port that gave them.
        var byPort: [Int: Int] = [:]
    }

    /// The counts, shared by the clients.
    final class Counts: Sendable {
        let tally = Mutex(Tally())
    }

    private let counts = Counts()
    private let task: Task<Void, Never>

    /// Starts `perPort` concurrent clients against each port, each sending requests back to back
    /// with `pause` between them.
    init(ports: [Int], path: String, perPort: Int = 2, pause: Duration = .milliseconds(5)) {
        let counts = self.counts
        task = Task {
            await withTaskGroup(of: Void.self) { group in
                for port in ports {
                    for _ in 0..<perPort {
                        group.addTask { await Self.client(port: port, path: path, pause: pause, counts: counts) }
                    }
                }
            }
        }
    }

    private static func client(port: Int, path: String, pause: Duration, counts: Counts) async {
        while !Task.isCancelled {
            do {
                let response = try await TestHTTPClient.request(
                    port: port, method: .POST, path: path, headers: [("content-type", "application/json")],
                    body: Array(#"{"inputs":[]}"#.utf8))
                // A request cut short by `stop()` is not the router's failure.
                if Task.isCancelled { return }
                counts.tally.withLock { tally in
                    tally.byVersion[response.header("x-weir-version") ?? "?", default: 0] += 1
                    tally.byPort[port, default: 0] += 1
                    // The demo canary's own 500s are answers; weir's 502/503/504 or a cut answer
                    // are requests lost.
                    if [502, 503, 504].contains(response.status) || !response.complete {
                        tally.failed.append("port \(port): \(response.status) \(response.text.prefix(120))")
                    } else {
                        tally.ok += 1
                    }
                }
            } catch {
                if Task.isCancelled { return }
                counts.tally.withLock { $0.failed.append("port \(port): \(error)") }
            }
            try? await Task.sleep(for: pause)
        }
    }

    var current: Tally { counts.tally.withLock { $0 } }

    /// Stops the clients and returns the tally.
    func stop() async -> Tally {
        task.cancel()
        await task.value
        return current
    }
}
