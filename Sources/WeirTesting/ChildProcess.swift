import Foundation

/// A product of this package (`weir`, `weir-demo-model`) — or a reference tool (`curl`, `openssl`,
/// `python3`) — run as a real child process, with its output captured and its memory readable from
/// /proc. Its standard input is a pipe this object holds: a child that reads it to the end (the
/// gRPC peer) stops by itself when the test process goes away.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: Process is not Sendable; every access goes through the methods below, which only
    // read state that Foundation synchronises (pid, running, termination status).
    private let process: Process
    private let output: Pipe
    private let errors: Pipe
    private let input = Pipe()

    /// The directory holding the built executables (next to the test bundle).
    public static var productsDirectory: URL {
        let fromTestBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if FileManager.default.fileExists(atPath: fromTestBinary.appendingPathComponent("weir").path) {
            return fromTestBinary
        }
        // Fall back to the package's debug folder.
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        return root.appendingPathComponent(".build/debug")
    }

    public convenience init(product: String, arguments: [String], currentDirectory: URL? = nil) throws {
        try self.init(
            executable: Self.productsDirectory.appendingPathComponent(product), arguments: arguments,
            currentDirectory: currentDirectory)
    }

    /// Runs a command found on PATH (`["curl", "-s", …]`).
    public convenience init(command: [String], currentDirectory: URL? = nil) throws {
        try self.init(
            executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: command, currentDirectory: currentDirectory)
    }

    private init(executable: URL, arguments: [String], currentDirectory: URL?) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        output = Pipe()
        errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = input
        try process.run()
    }

    /// Runs a command found on PATH to completion; returns its exit status and output.
    public static func run(command: [String], currentDirectory: URL? = nil) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try collect(ChildProcess(command: command, currentDirectory: currentDirectory))
    }

    /// Reads one line of the child's standard output (blocking until it is written); nil at its end.
    public func readLine() -> String? {
        var bytes: [UInt8] = []
        let handle = output.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte[0] == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte[0])
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Runs a product to completion; returns its exit status and output.
    public static func run(product: String, arguments: [String]) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try collect(ChildProcess(product: product, arguments: arguments))
    }

    /// Waits for a started child to end; its exit status and output.
    public static func collect(_ child: ChildProcess) -> (status: Int32, stdout: String, stderr: String) {
        try? child.input.fileHandleForWriting.close()
        let stdout = child.output.fileHandleForReading.readDataToEndOfFile()
        let stderr = child.errors.fileHandleForReading.readDataToEndOfFile()
        child.process.waitUntilExit()
        return (
            child.process.terminationStatus, String(decoding: stdout, as: UTF8.self),
            String(decoding: stderr, as: UTF8.self)
        )
    }

    /// A field of /proc/PID/status in kilobytes (`VmRSS`, `VmHWM`).
    public func memoryKilobytes(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// Sends `signal` while the process runs (never to a pid that may have been reused).
    public func signal(_ signal: Int32) {
        guard process.isRunning else { return }
        kill(pid, signal)
    }

    /// Waits for the process to exit, up to `limit`; returns its status, or nil if it still runs
    /// (it is then killed).
    public func waitForExit(limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    /// Everything written to standard output (call after exit: reads to the end).
    public func standardOutputText() -> String {
        String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Everything written to standard error so far (call after exit).
    public func standardErrorText() -> String {
        String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
