import WeirCore

/// A validated config: the listeners, the state store and the compiled routes. Everything past
/// `ConfigLoader` takes this and never re-validates.
public struct WeirConfiguration: Sendable, Hashable {
    public var server: ServerSettings
    public var admin: AdminSettings
    public var state: StateSettings
    public var routes: [RouteDefinition]

    public init(server: ServerSettings, admin: AdminSettings, state: StateSettings, routes: [RouteDefinition]) {
        self.server = server
        self.admin = admin
        self.state = state
        self.routes = routes
    }
}

/// A `host:port` to listen on.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `0.0.0.0:8080`, `[::1]:8080` or `:8080` (all interfaces); port 0 picks a free port.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        guard !host.contains(" ") else { return nil }
        self.init(host: host, port: port)
    }

    /// Whether only this machine can reach the address.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The data-plane listener.
public struct ServerSettings: Sendable, Hashable {
    public var listen: ListenAddress
    /// How long SIGTERM waits for in-flight requests.
    public var drainTimeout: Duration
    /// No complete request head this long after connecting or after the last response: close.
    public var idleTimeout: Duration
    public var maxConnections: Int
    public var maxHeaderBytes: Int = 64 * 1024
    public var maxHeaders: Int = 100

    public init(
        listen: ListenAddress, drainTimeout: Duration = .seconds(15), idleTimeout: Duration = .seconds(60),
        maxConnections: Int = 10_000
    ) {
        self.listen = listen
        self.drainTimeout = drainTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }
}

/// The admin API listener and its bearer token file.
public struct AdminSettings: Sendable, Hashable {
    public var listen: ListenAddress
    public var tokenFile: String?

    public init(listen: ListenAddress, tokenFile: String?) {
        self.listen = listen
        self.tokenFile = tokenFile
    }
}

/// Where rollout state is kept.
public enum StateSettings: Sendable, Hashable {
    case sqlite(path: String)
    case postgres(url: String)
}
