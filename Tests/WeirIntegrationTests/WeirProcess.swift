import Foundation
import NIOHTTP1
import WeirTesting

/// `weir serve` as a child process with its data plane and admin API on free loopback ports, in a
/// folder of its own that holds the config and the SQLite state file across restarts.
final class WeirProcess {
    let directory: URL
    let port: Int
    let adminPort: Int
    let token: String?
    private(set) var child: ChildProcess?

    var adminURL: String { "http://127.0.0.1:\(adminPort)" }
    var configPath: String { directory.appendingPathComponent("weir.yaml").path }

    /// Writes the config (`routes` is the YAML of the routes list; `server` more keys of the
    /// `server` section, such as `tls: {…}`) and starts weir.
    init(
        routes: String, token: String? = nil, server: String = "", admin adminExtra: String = "",
        state: String = "{ sqlite: state.sqlite }", startNow: Bool = true
    ) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try await FreePort.find()
        adminPort = try await FreePort.find()
        self.token = token
        var admin = "admin: { listen: \"127.0.0.1:\(adminPort)\"\(adminExtra.isEmpty ? "" : ", " + adminExtra) }"
        if let token {
            try Self.writeSecret(token, to: directory.appendingPathComponent("admin.token").path)
            admin =
                "admin: { listen: \"127.0.0.1:\(adminPort)\", token_file: admin.token\(adminExtra.isEmpty ? "" : ", " + adminExtra) }"
        }
        let yaml = """
            server: { listen: "127.0.0.1:\(port)"\(server.isEmpty ? "" : ", " + server) }
            \(admin)
            state: \(state)
            \(routes)
            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        if startNow { try await start() }
    }

    /// Writes a secret file readable by its owner alone, as weir demands.
    static func writeSecret(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    func start() async throws {
        child = try ChildProcess(product: "weir", arguments: ["serve", "-c", configPath], currentDirectory: directory)
        try await waitUntilListening(port: adminPort)
        try await waitUntilListening(port: port)
    }

    /// `kill -9`: no chance to flush anything.
    func crash() async {
        child?.signal(SIGKILL)
        _ = await child?.waitForExit(limit: .seconds(5))
        child = nil
    }

    func stop() async {
        child?.signal(SIGTERM)
        _ = await child?.waitForExit(limit: .seconds(10))
        child = nil
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `weirctl` against this weir; returns its exit status and output.
    func weirctl(_ arguments: [String], withToken: Bool = true) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        var full = arguments + ["--admin", adminURL]
        if withToken, token != nil { full += ["--token-file", directory.appendingPathComponent("admin.token").path] }
        return try ChildProcess.run(product: "weirctl", arguments: full)
    }

    /// Calls the admin API directly.
    /// Calls the admin API directly; a call that changes something is declared JSON unless
    /// `contentType` says otherwise (nil: no header).
    func admin(
        _ method: String, _ path: String, body: String? = nil, token: String? = nil,
        contentType: String? = "application/json", headers extra: [(String, String)] = []
    ) async throws -> (status: Int, json: [String: Any]) {
        var headers: [(String, String)] = extra
        if let token { headers.append(("authorization", "Bearer \(token)")) }
        if method != "GET", let contentType { headers.append(("content-type", contentType)) }
        let response = try await TestHTTPClient.request(
            port: adminPort, method: .init(rawValue: method), path: path, headers: headers,
            body: body.map { Array($0.utf8) }
        )
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, json)
    }
}

/// Runs `body` with a started weir and stops it afterwards, also when `body` throws.
func withWeir<T>(
    routes: String, token: String? = nil, server: String = "", admin: String = "",
    _ body: (WeirProcess) async throws -> T
) async throws -> T {
    let weir = try await WeirProcess(routes: routes, token: token, server: server, admin: admin)
    do {
        let result = try await body(weir)
        await weir.stop()
        return result
    } catch {
        await weir.stop()
        throw error
    }
}
