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
    init(routes: String, token: String? = nil, server: String = "") async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try await FreePort.find()
        adminPort = try await FreePort.find()
        self.token = token
        var admin = "admin: { listen: \"127.0.0.1:\(adminPort)\" }"
        if let token {
            try token.write(to: directory.appendingPathComponent("admin.token"), atomically: true, encoding: .utf8)
            admin = "admin: { listen: \"127.0.0.1:\(adminPort)\", token_file: admin.token }"
        }
        let yaml = """
            server: { listen: "127.0.0.1:\(port)"\(server.isEmpty ? "" : ", " + server) }
            \(admin)
            state: { sqlite: state.sqlite }
            \(routes)
            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        try await start()
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
    func admin(_ method: String, _ path: String, body: String? = nil, token: String? = nil) async throws -> (
        status: Int, json: [String: Any]
    ) {
        var headers: [(String, String)] = []
        if let token { headers.append(("authorization", "Bearer \(token)")) }
        if body != nil { headers.append(("content-type", "application/json")) }
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
    routes: String, token: String? = nil, server: String = "", _ body: (WeirProcess) async throws -> T
) async throws -> T {
    let weir = try await WeirProcess(routes: routes, token: token, server: server)
    do {
        let result = try await body(weir)
        await weir.stop()
        return result
    } catch {
        await weir.stop()
        throw error
    }
}
