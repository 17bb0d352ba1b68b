import Foundation

/// `state.postgres` taken apart: where the fleet's database is, who weir is there, and how it
/// protects the connection. Checked when the config loads, so a typo is a config error with a
/// line number, not a connection failure at start.
public struct PostgresURL: Sendable, Hashable {
    /// libpq's `sslmode` values that weir honours.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP (a database on the same host or a private network).
        case disable
        /// TLS when the server offers it, else plain (libpq's default).
        case prefer
        /// TLS required, the certificate not checked.
        case require
        /// TLS required, the certificate checked against the system's CAs and the host name.
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode

    /// Why a `state.postgres` URL is refused.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func parse(_ text: String) -> Result<PostgresURL, Problem> {
        func problem(_ message: String) -> Result<PostgresURL, Problem> {
            .failure(Problem(description: message + " (expected postgres://USER@HOST[:PORT]/DATABASE[?sslmode=MODE])"))
        }
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else { return problem("it is not a postgres:// URL") }
        guard components.password == nil else {
            return problem(
                "the URL carries a password: put it in state.password_file or WEIR_POSTGRES_PASSWORD instead")
        }
        guard let user = components.user?.removingPercentEncoding, !user.isEmpty else {
            return problem("the URL names no user")
        }
        guard let host = components.host, !host.isEmpty else { return problem("the URL names no host") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { return problem("port \(port) is out of range") }
        var database = components.path
        if database.hasPrefix("/") { database.removeFirst() }
        database = database.removingPercentEncoding ?? database
        if database.isEmpty { database = user }
        guard !database.contains("/") else { return problem("'\(database)' is not a database name") }
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else {
                return problem("unknown URL parameter '\(item.name)'; weir reads sslmode only")
            }
            guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                return problem(
                    "sslmode '\(item.value ?? "")' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            sslMode = mode
        }
        return .success(PostgresURL(user: user, host: host, port: port, database: database, sslMode: sslMode))
    }

    /// The URL without anything secret, for logs and status.
    public var display: String { "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)" }
}
