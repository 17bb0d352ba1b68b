import Foundation

/// A real gRPC server and client (Python's grpcio, `scripts/grpc_peer.py`) for tests: the reference
/// implementation checks weir, not weir's own client.
public enum GRPCPeer {
    /// The peer script, found from this source file's place in the package.
    public static var script: String { RepositoryPath.of("scripts/grpc_peer.py") }

    /// A running gRPC server on 127.0.0.1.
    public final class Server: Sendable {
        public let port: Int
        private let process: ChildProcess

        /// `name` comes back as `x-served-by` metadata; every `failEvery`th unary call fails with
        /// `failStatus`; `maxConnectionAgeMilliseconds` > 0 makes the server send GOAWAY on every
        /// connection that old.
        public init(
            name: String, failEvery: Int = 0, failStatus: String = "UNAVAILABLE", delayMilliseconds: Int = 0,
            maxConnectionAgeMilliseconds: Int = 0, tls: (certificate: String, key: String)? = nil
        ) throws {
            var arguments = [
                "python3", GRPCPeer.script, "server", "--name", name, "--fail-every", String(failEvery),
                "--fail-status", failStatus, "--delay-ms", String(delayMilliseconds), "--max-age-ms",
                String(maxConnectionAgeMilliseconds),
            ]
            if let tls { arguments += ["--tls-cert", tls.certificate, "--tls-key", tls.key] }
            process = try ChildProcess(command: arguments)
            guard let line = process.readLine(), line.hasPrefix("port "), let port = Int(line.dropFirst(5)) else {
                throw TestToolError(message: "the gRPC peer server did not start: \(process.standardErrorText())")
            }
            self.port = port
        }

        public func stop() async {
            process.signal(SIGTERM)
            _ = await process.waitForExit(limit: .seconds(5))
        }
    }

    /// What `calls` saw: gRPC status names and `x-weir-version` values with their counts.
    public struct CallsReport: Decodable, Sendable {
        public let codes: [String: Int]
        public let versions: [String: Int]
        /// Calls whose trailing metadata arrived intact (`x-trailer-check` matching the server).
        public let trailers_ok: Int
        /// Calls whose response echoed the request bytes.
        public let echo_ok: Int
        public let details: [String]
    }

    /// `calls` unary calls to `target` (host:port) through grpcio's client.
    public static func calls(
        target: String, count: Int, size: Int = 64, method: String = "Echo", caFile: String? = nil,
        timeoutSeconds: Double = 10
    ) throws -> CallsReport {
        var arguments = [
            "python3", script, "calls", "--target", target, "--calls", String(count), "--size", String(size),
            "--method",
            method, "--timeout", String(timeoutSeconds),
        ]
        if let caFile { arguments += ["--ca", caFile] }
        return try decode(CallsReport.self, from: ChildProcess.run(command: arguments))
    }

    /// What `stream` saw of one bidirectional call.
    public struct StreamReport: Decodable, Sendable {
        public let code: String
        public let sent: Int
        public let received: Int
        public let bytes: Int
        /// The echoed bytes hash to what was sent.
        public let bytes_ok: Bool
    }

    /// One bidirectional call sending `messages` messages of `size` bytes, every one echoed back.
    public static func stream(target: String, messages: Int, size: Int, caFile: String? = nil) throws -> StreamReport {
        try finish(startStream(target: target, messages: messages, size: size, caFile: caFile))
    }

    /// Starts the same call in the background, pausing `pauseMilliseconds` before each message,
    /// so a test can act while it is in flight; `finish` waits for its report.
    public static func startStream(
        target: String, messages: Int, size: Int, pauseMilliseconds: Int = 0, caFile: String? = nil
    ) throws -> ChildProcess {
        var arguments = [
            "python3", script, "stream", "--target", target, "--messages", String(messages), "--size", String(size),
            "--pause-ms", String(pauseMilliseconds), "--timeout", "60",
        ]
        if let caFile { arguments += ["--ca", caFile] }
        return try ChildProcess(command: arguments)
    }

    /// The report of a call `startStream` began, once it ended.
    public static func finish(_ call: ChildProcess) throws -> StreamReport {
        try decode(StreamReport.self, from: ChildProcess.collect(call))
    }

    private static func decode<T: Decodable>(
        _ type: T.Type, from result: (status: Int32, stdout: String, stderr: String)
    ) throws -> T {
        guard result.status == 0, let line = result.stdout.split(separator: "\n").last,
            let value = try? JSONDecoder().decode(T.self, from: Data(line.utf8))
        else {
            throw TestToolError(message: "the gRPC peer client failed (\(result.status)): \(result.stderr)")
        }
        return value
    }
}
