import ArgumentParser
import Foundation
import Logging
import Weir
import WeirConfig

/// `weir`: the router's executable — serve, check and simulate.
@main
struct WeirCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir",
        abstract: "A canary-deployment traffic router for ML inference.",
        subcommands: [Serve.self, Check.self, Simulate.self, Token.self]
    )
}

/// The options every subcommand that reads a config shares.
struct ConfigOption: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "The YAML config file.")
    var config: String = "weir.yaml"

    /// Loads and validates the config, or prints every error and exits with status 2.
    func load() throws -> WeirConfiguration {
        do {
            return try ConfigLoader.load(path: config)
        } catch {
            var standardError = FileHandle.standardError
            for problem in error.errors { print("error: \(problem)", to: &standardError) }
            print("\(error.errors.count) error\(error.errors.count == 1 ? "" : "s") in \(config)", to: &standardError)
            throw ExitCode(2)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the router until SIGTERM or SIGINT.")

    @OptionGroup var options: ConfigOption

    @Option(
        help:
            "Log level: trace, debug, info, notice, warning, error, critical (else WEIR_LOG_LEVEL, else server.log_level)."
    )
    var logLevel: String?

    func run() async throws {
        let config = try options.load()
        let levelText =
            logLevel ?? ProcessInfo.processInfo.environment["WEIR_LOG_LEVEL"] ?? config.server.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ValidationError("unknown log level '\(levelText)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "weir")
        do {
            try await WeirApplication(config: config, configPath: options.config, logger: logger).run()
        } catch {
            var standardError = FileHandle.standardError
            print("weir: \(error)", to: &standardError)
            throw ExitCode(1)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a config: 'ok: N routes' (exit 0) or every error (exit 2).")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try options.load()
        var standardError = FileHandle.standardError
        for warning in config.warnings { print("warning: \(warning)", to: &standardError) }
        print("ok: \(config.routes.count) route\(config.routes.count == 1 ? "" : "s")")
    }
}

extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) {
        write(Data(string.utf8))
    }
}
