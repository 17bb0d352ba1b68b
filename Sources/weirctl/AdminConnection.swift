import ArgumentParser
import AsyncHTTPClient
import Foundation
import WeirAdminModels
import WeirHTTPClient

/// The options that say where weir's admin API is and how to authenticate, shared by every verb.
struct AdminConnection: ParsableArguments {
    @Option(name: .customLong("admin"), help: "The admin API's URL (or WEIR_ADMIN_URL; default http://127.0.0.1:9901).")
    var adminURL: String?

    @Option(help: "A file holding the admin token (or the token itself in WEIR_ADMIN_TOKEN).")
    var tokenFile: String?

    @Option(help: "PEM authorities to trust for an https:// admin URL (or WEIR_ADMIN_CA; default: the system's).")
    var caFile: String?

    @Option(help: "PEM client certificate, when admin.tls asks for one (or WEIR_ADMIN_CERT).")
    var cert: String?

    @Option(help: "PEM key of --cert (or WEIR_ADMIN_KEY).")
    var key: String?

    var baseURL: String {
        var url = adminURL ?? ProcessInfo.processInfo.environment["WEIR_ADMIN_URL"] ?? "http://127.0.0.1:9901"
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    func token() throws -> String? {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw CtlFailure(message: "cannot read the token file \(tokenFile)", exitCode: 2)
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ProcessInfo.processInfo.environment["WEIR_ADMIN_TOKEN"].map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// Calls the API; returns the body of a 2xx answer, or throws the failure that maps to the
    /// exit code (refusals 1, unreachable/unauthorized 3).
    func call(_ method: String, _ path: String, body: (some Encodable)? = Optional<String>.none) async throws -> Data {
        var headers: [(String, String)] = [("accept", "application/json")]
        if let token = try token() { headers.append(("authorization", "Bearer \(token)")) }
        var bytes: [UInt8]?
        if let body {
            bytes = Array(try JSONEncoder().encode(body))
            headers.append(("content-type", "application/json"))
        }
        if method != "GET" && body == nil {
            // Every change is declared JSON: the admin API refuses anything else.
            bytes = Array("{}".utf8)
            headers.append(("content-type", "application/json"))
        }
        let environment = ProcessInfo.processInfo.environment
        let files = ControlHTTPClient.TLSFiles(
            caFile: caFile ?? environment["WEIR_ADMIN_CA"], certificateFile: cert ?? environment["WEIR_ADMIN_CERT"],
            keyFile: key ?? environment["WEIR_ADMIN_KEY"])
        let client: HTTPClient
        do {
            client = try ControlHTTPClient.makeClient(tls: files)
        } catch {
            throw CtlFailure(message: "cannot load the TLS files (\(error))", exitCode: 2)
        }
        let response: ControlHTTPClient.Response
        do {
            response = try await ControlHTTPClient.send(
                client, method: method, url: baseURL + path, headers: headers, body: bytes)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw CtlFailure.unreachable("cannot reach weir at \(baseURL) (\(ControlHTTPClient.describe(error)))")
        }
        let data = Data(response.body)
        if (200..<300).contains(response.status) { return data }
        let problem = try? JSONDecoder().decode(ErrorModel.self, from: data)
        let message =
            problem.map { ([$0.message] + ($0.details ?? [])).joined(separator: "\n  ") }
            ?? "weir answered \(response.status)"
        if response.status == 401 {
            throw CtlFailure.unreachable("unauthorized: \(message) (give --token-file or WEIR_ADMIN_TOKEN)")
        }
        throw CtlFailure.refused(message)
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String) async throws -> T {
        let data = try await call("GET", path)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw CtlFailure.unreachable("weir at \(baseURL) answered something that is not its admin API (\(error))")
        }
    }
}
