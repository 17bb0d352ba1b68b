import ArgumentParser
import Foundation
import WeirAdminModels

/// The route argument every steering verb takes.
struct RouteArgument: ParsableArguments {
    @Argument(help: "The route's name.") var route: String

    func validate() throws {
        guard !route.isEmpty,
            route.utf8.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d })
        else {
            throw ValidationError("'\(route)' is not a route name ([a-z0-9-]+)")
        }
    }
}

/// Output options of the steering verbs.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the API's JSON instead of a sentence.") var json = false
}

/// Sends one command and prints what happened.
func steer(
    _ connection: AdminConnection, route: String, verb: String, output: OutputOptions,
    body: (some Encodable)? = Optional<String>.none
) async throws {
    let data = try await connection.call("POST", "/v1/routes/\(route)/\(verb)", body: body)
    if output.json {
        print(String(decoding: data, as: UTF8.self), terminator: "")
        return
    }
    let result = try JSONDecoder().decode(CommandResultModel.self, from: data)
    print(
        "\(route): \(result.event.from) -> \(result.event.to) (\(StatusTable.weights(result.event.weights))): \(result.event.reason)"
    )
}

struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Advance the canary one step, or to 100 % with --full.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @Flag(help: "Promote straight to 100 %.") var full = false
    @OptionGroup var output: OutputOptions
    func run() async throws {
        try await steer(
            connection, route: target.route, verb: "promote", output: output, body: PromoteRequest(full: full))
    }
}

struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Hold the canary at its weight.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @OptionGroup var output: OutputOptions
    func run() async throws { try await steer(connection, route: target.route, verb: "pause", output: output) }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Let the policy move the canary again.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @OptionGroup var output: OutputOptions
    func run() async throws { try await steer(connection, route: target.route, verb: "resume", output: output) }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a rolled-back canary again from step 0.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @OptionGroup var output: OutputOptions
    func run() async throws { try await steer(connection, route: target.route, verb: "retry", output: output) }
}

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send all traffic back to the stable version now.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @Option(help: "Why, for the audit log.") var reason: String?
    @OptionGroup var output: OutputOptions
    func run() async throws {
        try await steer(
            connection, route: target.route, verb: "rollback", output: output, body: RollbackRequest(reason: reason))
    }
}

struct Undo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "After a promotion (within the rollback window), go back to the previous stable.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @OptionGroup var output: OutputOptions
    func run() async throws { try await steer(connection, route: target.route, verb: "undo", output: output) }
}

struct SetWeight: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-weight", abstract: "Pin the canary's weight (percent) and pause the policy.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @Argument(help: "The canary's weight, 0-100.") var percent: Double
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (0...100).contains(percent) else {
            throw ValidationError("the weight must be between 0 and 100, not \(percent)")
        }
    }

    func run() async throws {
        try await steer(
            connection, route: target.route, verb: "weight", output: output, body: WeightRequest(canary: percent))
    }
}

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make weir re-read its config file; a bad one is refused with its errors.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var output: OutputOptions
    func run() async throws {
        let data = try await connection.call("POST", "/v1/reload")
        if output.json {
            print(String(decoding: data, as: UTF8.self), terminator: "")
        } else {
            let result = try JSONDecoder().decode(ReloadResultModel.self, from: data)
            print("reloaded: \(result.routes) route\(result.routes == 1 ? "" : "s")")
        }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a route's audit log, newest first.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @Option(help: "How many events.") var limit: Int = 20
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() async throws {
        if output.json {
            print(
                String(
                    decoding: try await connection.call("GET", "/v1/routes/\(target.route)/events?limit=\(limit)"),
                    as: UTF8.self), terminator: "")
            return
        }
        let events = try await connection.get(EventsModel.self, "/v1/routes/\(target.route)/events?limit=\(limit)")
            .events
        let rows = events.map { event in
            [
                String(event.at.prefix(19)).replacingOccurrences(of: "T", with: " "), event.actor,
                "\(event.from) -> \(event.to)", StatusTable.weights(event.weights), event.reason,
            ]
        }
        print(StatusTable.render(header: ["TIME (UTC)", "ACTOR", "TRANSITION", "WEIGHTS", "REASON"], rows: rows))
    }
}

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a route's latest pairs of stable and shadow answers that disagreed, newest first.")
    @OptionGroup var connection: AdminConnection
    @OptionGroup var target: RouteArgument
    @Option(help: "How many pairs (at most 50 are kept).") var limit: Int = 10
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000") }
    }

    func run() async throws {
        let path = "/v1/routes/\(target.route)/diff?limit=\(limit)"
        if output.json {
            print(String(decoding: try await connection.call("GET", path), as: UTF8.self), terminator: "")
            return
        }
        let diff = try await connection.get(ShadowDiffModel.self, path)
        guard !diff.pairs.isEmpty else {
            print("\(target.route): no disagreeing pairs kept")
            return
        }
        for pair in diff.pairs {
            print("\(String(pair.at.prefix(19)).replacingOccurrences(of: "T", with: " "))  \(pair.request)  differs: \(pair.detail)")
            print("  stable: \(pair.stable)")
            print("  shadow: \(pair.shadow)")
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every route's rollout, or one route's.")
    @OptionGroup var connection: AdminConnection
    @Argument(help: "Only this route.") var route: String?
    @Flag(help: "Redraw every second until interrupted.") var watch = false
    @OptionGroup var output: OutputOptions

    func run() async throws {
        repeat {
            let text: String
            if output.json {
                text = String(
                    decoding: try await connection.call("GET", route.map { "/v1/routes/\($0)" } ?? "/v1/routes"),
                    as: UTF8.self)
            } else {
                let all = try await connection.get(RoutesModel.self, "/v1/routes")
                var routes = all.routes
                if let route {
                    routes = [try await connection.get(RouteStatusModel.self, "/v1/routes/\(route)")]
                }
                // Store trouble first: it changes what the commands below may do.
                let store = all.store.flatMap(StatusTable.render(store:)).map { $0 + "\n\n" } ?? ""
                let fleet = all.instances.map { StatusTable.render(instances: $0) + "\n\n" } ?? ""
                text = store + fleet + routes.map(StatusTable.render).joined(separator: "\n\n") + "\n"
            }
            if watch {
                let screen =
                    "\u{1B}[H\u{1B}[2J" + text
                    + "\nweir at \(connection.baseURL) · \(StatusTable.now()) · Ctrl-C to stop\n"
                FileHandle.standardOutput.write(Data(screen.utf8))
                try await Task.sleep(for: .seconds(1))
            } else {
                print(text, terminator: "")
            }
        } while watch
    }
}
