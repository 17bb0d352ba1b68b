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

    /// Sentences about what is weaker than it should be (`weir check` prints them; `serve` logs them).
    public var warnings: [String] {
        var found: [String] = []
        for (name, tls) in [("server.tls", server.tls), ("admin.tls", admin.tls)] {
            guard let tls else { continue }
            found += tls.policy.weaknesses.map { "\(name): \($0)" }
        }
        if !admin.listen.isLoopback && admin.tls == nil {
            found.append(
                "admin.listen \(admin.listen) is reachable from the network without admin.tls: the token crosses it in clear text")
        }
        for route in routes {
            if route.versions.contains(where: { $0.upstreams.contains { $0.scheme == .https } }) {
                found += route.upstreamTLS.weaknesses.map { "routes.\(route.name).upstream_tls: \($0)" }
            }
            for webhook in route.policy.webhooks
            where webhook.url.hasPrefix("http://")
                && !["http://127.", "http://localhost", "http://[::1]"].contains(where: webhook.url.hasPrefix)
            {
                found.append("routes.\(route.name): webhook \(webhook.url) is not https://")
            }
        }
        return found
    }

    /// The same config with every relative file path (TLS files, upstream CAs) made relative to
    /// `directory`, so a config means the same whatever the working directory.
    public func resolvingFiles(relativeTo directory: String) -> WeirConfiguration {
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path
        }
        var config = self
        config.server.tls = config.server.tls?.resolving(resolve)
        config.admin.tls = config.admin.tls?.resolving(resolve)
        config.admin.tokenFile = config.admin.tokenFile.map(resolve)
        config.admin.readTokenFile = config.admin.readTokenFile.map(resolve)
        if case .postgres(var settings) = config.state {
            settings.passwordFile = settings.passwordFile.map(resolve)
            config.state = .postgres(settings)
        }
        for index in config.routes.indices {
            config.routes[index].upstreamCAFile = config.routes[index].upstreamCAFile.map(resolve)
            for hook in config.routes[index].policy.webhooks.indices {
                config.routes[index].policy.webhooks[hook].caFile =
                    config.routes[index].policy.webhooks[hook].caFile.map(resolve)
            }
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
    /// Versions and cipher suites accepted (default: Mozilla intermediate).
    public var policy = TLSPolicy.intermediate

    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
    }

    /// The same settings with relative paths made relative to `directory`.
    func resolving(_ resolve: (String) -> String) -> TLSSettings {
        var settings = self
        settings.certificateFile = resolve(certificateFile)
        settings.keyFile = resolve(keyFile)
        settings.clientCAFile = clientCAFile.map(resolve)
        return settings
    }
}

/// The admin API listener: its tokens, TLS and the host names it answers to.
public struct AdminSettings: Sendable, Hashable {
    public var listen: ListenAddress
    /// Bearer token for every call that changes something (and for reads when no read token is set).
    public var tokenFile: String?
    /// Optional bearer token that reads (`GET`, `/metrics`) need; the admin token works too.
    public var readTokenFile: String?
    /// The tokens themselves, read from the files above by `ConfigLoader.load(path:)`.
    public var token: String?
    public var readToken: String?
    /// HTTPS on the admin listener, so a token never crosses a network in clear text.
    public var tls: TLSSettings?
    /// Host names (beyond IP literals and `localhost`) the admin API answers to; a request naming
    /// another `Host` or coming from another `Origin` is refused `403` (DNS rebinding, CSRF).
    public var allowedHosts: [String] = []

    public init(listen: ListenAddress, tokenFile: String?) {
        self.listen = listen
        self.tokenFile = tokenFile
    }
}

/// Where rollout state is kept.
public enum StateSettings: Sendable, Hashable {
    case sqlite(path: String)
    /// Fleet mode: every instance on this database runs one rollout (CONTRACT §9).
    case postgres(PostgresSettings)
}

/// `state.postgres`: the database a fleet shares, and how this instance is named in it.
public struct PostgresSettings: Sendable, Hashable {
    /// `postgres://user@host:port/db?sslmode=…` (a password in the URL is refused: use the file),
    /// or `$NAME` to read it from that environment variable at start.
    public var url: String
    /// `state.password_file` (0600), else `WEIR_POSTGRES_PASSWORD`.
    public var passwordFile: String?
    /// The password, read from `passwordFile` by `ConfigLoader`.
    public var password: String?
    /// `state.instance`: this instance's name in the fleet (default: host name and admin port).
    public var instance: String?

    public init(url: String, passwordFile: String? = nil, instance: String? = nil) {
        self.url = url
        self.passwordFile = passwordFile
        self.instance = instance
    }

    /// The environment variable `url` names (`$NAME`), if it names one.
    public static func environmentName(in url: String) -> String? {
        url.hasPrefix("$") ? String(url.dropFirst()) : nil
    }

    /// The URL itself: `url`, or the value of the environment variable it names.
    public func resolvedURL(environment: [String: String]) -> Result<PostgresURL, PostgresURL.Problem> {
        guard let name = Self.environmentName(in: url) else { return PostgresURL.parse(url) }
        guard let value = environment[name], !value.isEmpty else {
            return .failure(PostgresURL.Problem(description: "state.postgres names $\(name), which is not set"))
        }
        return PostgresURL.parse(value).mapError {
            PostgresURL.Problem(description: "$\(name): \($0.description)")
        }
    }
}
