import Foundation

/// A product of this package (`weir`, `weir-demo-model`) run as a real child process, with its
/// output captured and its memory readable from /proc.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: Process is not Sendable; every access goes through the methods below, which only
    // read state that Foundation synchronises (pid, running, termination status).
    private let process: Process
    private let output: Pipe
    private let errors: Pipe

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

    public init(product: String, arguments: [String], currentDirectory: URL? = nil) throws {
        process = Process()
        process.executableURL = Self.productsDirectory.appendingPathComponent(product)
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        output = Pipe()
        errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Runs a product to completion; returns its exit status and output.
    public static func run(product: String, arguments: [String]) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let child = try ChildProcess(product: product, arguments: arguments)
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

    public func signal(_ signal: Int32) {
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

    /// Everything written to standard error so far (call after exit).
    public func standardErrorText() -> String {
        String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
