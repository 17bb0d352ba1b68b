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

    /// The same config with every relative file path (TLS files, upstream CAs) made relative to
    /// `directory`, so a config means the same whatever the working directory.
    public func resolvingFiles(relativeTo directory: String) -> WeirConfiguration {
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path
        }
        var config = self
        if var tls = config.server.tls {
            tls.certificateFile = resolve(tls.certificateFile)
            tls.keyFile = resolve(tls.keyFile)
            tls.clientCAFile = tls.clientCAFile.map(resolve)
            config.server.tls = tls
        }
        for index in config.routes.indices {
            config.routes[index].upstreamCAFile = config.routes[index].upstreamCAFile.map(resolve)
            if let secretFile = config.routes[index].override?.secretFile {
                config.routes[index].override?.secretFile = resolve(secretFile)
            }
        }
        return config
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
    /// Longest wait between two reads of a request body; a client that stalls longer gets `408`.
    public var clientBodyTimeout: Duration = .seconds(60)
    /// Peers whose `X-Forwarded-*` headers are believed (appended to); from anyone else they are replaced.
    public var trustedProxies: [CIDRBlock] = []
    /// Event-loop threads of the data plane; nil = one per core.
    public var threads: Int?
    public var maxHeaderBytes: Int = 64 * 1024
    public var maxHeaders: Int = 100
    /// HTTPS on the data-plane listener (HTTP/2 or HTTP/1.1 chosen by ALPN); nil = cleartext.
    public var tls: TLSSettings?
    /// Also accept cleartext HTTP/2 with prior knowledge on the cleartext listener.
    public var h2c = false
    /// One access-log line per request (route, version, status, durations) on standard output.
    public var accessLog = false
    /// swift-log level name (`trace` … `critical`); `WEIR_LOG_LEVEL` and `--log-level` override it.
    public var logLevel: String?

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

/// Certificate files of the data-plane TLS listener. Paths are as written in the config;
/// `ConfigLoader.load(path:)` makes relative ones relative to the config file.
public struct TLSSettings: Sendable, Hashable {
    /// PEM certificate chain, leaf first.
    public var certificateFile: String
    /// PEM private key of the leaf certificate.
    public var keyFile: String
    /// PEM certificate authorities for client certificates; set = mutual TLS, a client without a
    /// certificate signed by one of them is refused during the handshake.
    public var clientCAFile: String?

    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
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
