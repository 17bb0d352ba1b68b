import Foundation
import WeirCore
import Yams

/// Turns a YAML file into a `WeirConfiguration`, or into every error it contains.
public enum ConfigLoader {
    /// Reads and validates a config file.
    public static func load(path: String) throws(ConfigErrors) -> WeirConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigErrors([
                ConfigError(
                    file: path, line: 0, column: 0, path: "", message: "cannot read the file (\(Self.reason(error)))")
            ])
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try readSecrets(of: parse(yaml: text, file: path).resolvingFiles(relativeTo: directory), file: path)
    }

    /// Fills each route override's secret from its `secret_file` and the admin tokens from their
    /// files — read once, here, so `weir check` refuses what `serve` would; every unreadable or
    /// unprotected file is an error.
    static func readSecrets(of config: WeirConfiguration, file: String) throws(ConfigErrors) -> WeirConfiguration {
        var config = config
        var errors: [ConfigError] = []
        for index in config.routes.indices {
            guard let secretFile = config.routes[index].override?.secretFile else { continue }
            do {
                config.routes[index].override?.secret = Array(try SecretFile.read(secretFile).utf8)
            } catch {
                errors.append(
                    ConfigError(
                        file: file, line: 0, column: 0, path: "routes[\(index)].override.secret_file",
                        message: error.description))
            }
        }
        do {
            config.admin.token = try config.admin.tokenFile.map(SecretFile.read)
        } catch {
            errors.append(ConfigError(file: file, line: 0, column: 0, path: "admin.token_file", message: error.description))
        }
        do {
            config.admin.readToken = try config.admin.readTokenFile.map(SecretFile.read)
        } catch {
            errors.append(
                ConfigError(file: file, line: 0, column: 0, path: "admin.read_token_file", message: error.description))
        }
        if case .postgres(var settings) = config.state, let passwordFile = settings.passwordFile {
            do {
                settings.password = try SecretFile.read(passwordFile).trimmingCharacters(in: .whitespacesAndNewlines)
                config.state = .postgres(settings)
            } catch {
                errors.append(
                    ConfigError(file: file, line: 0, column: 0, path: "state.password_file", message: error.description))
            }
        }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return config
    }

    /// Validates config text; `file` names it in errors.
    public static func parse(yaml: String, file: String) throws(ConfigErrors) -> WeirConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigErrors([Self.syntaxError(error, file: file)])
        } catch {
            throw ConfigErrors([
                ConfigError(file: file, line: 0, column: 0, path: "", message: "not valid YAML: \(error)")
            ])
        }
        guard let root else {
            throw ConfigErrors([
                ConfigError(
                    file: file, line: 1, column: 1, path: "", message: "the file is empty; expected at least 'routes'")
            ])
        }
        var compiler = ConfigCompiler(reader: YAMLReader(file: file))
        let config = compiler.compile(root)
        guard compiler.reader.errors.isEmpty, let config else {
            throw ConfigErrors(compiler.reader.errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return config
    }

    private static func syntaxError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            let what = [context?.text, problem].compactMap { $0 }.joined(separator: ", ")
            return ConfigError(
                file: file, line: mark.line, column: mark.column, path: "", message: "not valid YAML: \(what)")
        default:
            return ConfigError(file: file, line: 0, column: 0, path: "", message: "not valid YAML: \(error)")
        }
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}

/// The schema: reads each section of the document through a `YAMLReader` and compiles it into core values.
struct ConfigCompiler {
    var reader: YAMLReader

    mutating func compile(_ root: Node) -> WeirConfiguration? {
        guard let top = reader.mapping(root, "", allowed: ["server", "admin", "state", "routes"]) else { return nil }
        let server =
            top["server"].map { serverSettings($0) }
            ?? ServerSettings(listen: ListenAddress(host: "0.0.0.0", port: 8080))
        let admin =
            top["admin"].map { adminSettings($0) }
            ?? AdminSettings(listen: ListenAddress(host: "127.0.0.1", port: 9901), tokenFile: nil)
        let state = top["state"].map { stateSettings($0) } ?? .sqlite(path: "weir-state.sqlite")
        var routes: [RouteDefinition] = []
        if let routesNode = top["routes"] {
            routes = self.routes(routesNode)
        } else {
            reader.fail(root, "routes", "missing; expected a list of routes")
        }
        guard let server, let admin, let state else { return nil }
        return WeirConfiguration(server: server, admin: admin, state: state, routes: routes)
    }

    private mutating func listen(_ node: Node, _ path: String) -> ListenAddress? {
        guard let text = reader.string(node, path) else { return nil }
        guard let address = ListenAddress(parsing: text) else {
            reader.fail(node, path, "expected host:port such as 0.0.0.0:8080, found '\(text)'")
            return nil
        }
        return address
    }

    private mutating func serverSettings(_ node: Node) -> ServerSettings? {
        let path = "server"
        guard
            let fields = reader.mapping(
                node, path,
                allowed: [
                    "listen", "tls", "h2c", "drain_timeout", "access_log", "idle_timeout", "max_connections",
                    "max_header_bytes", "max_headers", "log_level", "client_body_timeout", "trusted_proxies", "threads",
                ])
        else {
            return nil
        }
        var settings = ServerSettings(listen: ListenAddress(host: "0.0.0.0", port: 8080))
        if let listenNode = fields["listen"] {
            guard let address = listen(listenNode, "server.listen") else { return nil }
            settings.listen = address
        }
        if let tls = fields["tls"] {
            settings.tls = tlsSettings(tls, "server.tls")
        }
        if let h2c = fields["h2c"], let enabled = reader.bool(h2c, "server.h2c") {
            settings.h2c = enabled
            if enabled && settings.tls != nil {
                reader.fail(
                    h2c, "server.h2c",
                    "h2c is cleartext HTTP/2; with server.tls, HTTP/2 is negotiated by ALPN — remove one of them")
            }
        }
        if let drain = fields["drain_timeout"], let value = reader.duration(drain, "server.drain_timeout") {
            settings.drainTimeout = value
        }
        if let accessLog = fields["access_log"], let enabled = reader.bool(accessLog, "server.access_log") {
            settings.accessLog = enabled
        }
        if let node = fields["log_level"], let level = reader.string(node, "server.log_level") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            if levels.contains(level) {
                settings.logLevel = level
            } else {
                reader.fail(
                    node, "server.log_level", "expected one of \(levels.joined(separator: ", ")), found '\(level)'")
            }
        }
        if let node = fields["idle_timeout"], let value = reader.duration(node, "server.idle_timeout") {
            if value > .zero {
                settings.idleTimeout = value
            } else {
                reader.fail(node, "server.idle_timeout", "expected a duration above 0")
            }
        }
        if let node = fields["client_body_timeout"], let value = reader.duration(node, "server.client_body_timeout") {
            if value > .zero {
                settings.clientBodyTimeout = value
            } else {
                reader.fail(node, "server.client_body_timeout", "expected a duration above 0")
            }
        }
        if let node = fields["trusted_proxies"] {
            settings.trustedProxies = cidrList(node, "server.trusted_proxies")
        }
        if let node = fields["threads"], let value = reader.int(node, "server.threads", range: 1...256) {
            settings.threads = value
        }
        if let node = fields["max_connections"],
            let value = reader.int(node, "server.max_connections", range: 1...1_000_000)
        {
            settings.maxConnections = value
        }
        if let node = fields["max_header_bytes"],
            let value = reader.int(node, "server.max_header_bytes", range: 1024...1_048_576)
        {
            settings.maxHeaderBytes = value
        }
        if let node = fields["max_headers"], let value = reader.int(node, "server.max_headers", range: 8...10_000) {
            settings.maxHeaders = value
        }
        return settings
    }

    /// A list of address blocks (`10.0.0.0/8`, `::1/128`).
    mutating func cidrList(_ node: Node, _ path: String) -> [CIDRBlock] {
        guard let items = reader.sequence(node, path, of: "CIDRs") else { return [] }
        var blocks: [CIDRBlock] = []
        for (index, item) in items.enumerated() {
            let itemPath = YAMLReader.index(path, index)
            guard let text = reader.string(item, itemPath) else { continue }
            if let block = CIDRBlock(text) {
                blocks.append(block)
            } else {
                reader.fail(item, itemPath, "expected an address block such as 10.0.0.0/8 or ::1/128, found '\(text)'")
            }
        }
        return blocks
    }

    /// `{ cert, key, client_ca, min_version, ciphers }` at `path` (`server.tls`, `admin.tls`).
    private mutating func tlsSettings(_ node: Node, _ path: String) -> TLSSettings? {
        guard
            let fields = reader.mapping(node, path, allowed: ["cert", "key", "client_ca", "min_version", "ciphers"])
        else { return nil }
        let cert = required(fields, "cert", in: node, path).flatMap { reader.string($0, YAMLReader.join(path, "cert")) }
        let key = required(fields, "key", in: node, path).flatMap { reader.string($0, YAMLReader.join(path, "key")) }
        let clientCA = fields["client_ca"].flatMap { reader.string($0, YAMLReader.join(path, "client_ca")) }
        let policy = tlsPolicy(fields, path)
        guard let cert, let key else { return nil }
        var settings = TLSSettings(certificateFile: cert, keyFile: key, clientCAFile: clientCA)
        settings.policy = policy
        return settings
    }

    /// `min_version` and `ciphers` of a TLS section at `path`; the intermediate profile where absent.
    mutating func tlsPolicy(_ fields: [String: Node], _ path: String) -> TLSPolicy {
        var policy = TLSPolicy.intermediate
        if let node = fields["min_version"], let text = reader.string(node, YAMLReader.join(path, "min_version")) {
            if let version = TLSPolicy.Version(rawValue: text) {
                policy.minVersion = version
            } else {
                reader.fail(
                    node, YAMLReader.join(path, "min_version"),
                    "expected one of \(TLSPolicy.Version.allCases.map(\.rawValue).joined(separator: ", ")), found '\(text)'")
            }
        }
        if let node = fields["ciphers"], let text = reader.string(node, YAMLReader.join(path, "ciphers")) {
            let candidate = TLSPolicy(minVersion: policy.minVersion, ciphers: text)
            if let unknown = candidate.unknownCiphers.first {
                reader.fail(
                    node, YAMLReader.join(path, "ciphers"),
                    "expected suite names separated by ':' such as ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384; '\(unknown)' is not one (known: \(TLSPolicy.knownCiphers.sorted().joined(separator: ", ")))"
                )
            } else {
                policy.ciphers = text
            }
        }
        return policy
    }

    private mutating func adminSettings(_ node: Node) -> AdminSettings? {
        guard
            let fields = reader.mapping(
                node, "admin", allowed: ["listen", "token_file", "read_token_file", "tls", "allowed_hosts"])
        else { return nil }
        var settings = AdminSettings(listen: ListenAddress(host: "127.0.0.1", port: 9901), tokenFile: nil)
        if let listenNode = fields["listen"] {
            guard let address = listen(listenNode, "admin.listen") else { return nil }
            settings.listen = address
        }
        if let tokenNode = fields["token_file"] {
            settings.tokenFile = reader.string(tokenNode, "admin.token_file")
        }
        if let tokenNode = fields["read_token_file"] {
            settings.readTokenFile = reader.string(tokenNode, "admin.read_token_file")
        }
        if let tlsNode = fields["tls"] {
            settings.tls = tlsSettings(tlsNode, "admin.tls")
        }
        if let hostsNode = fields["allowed_hosts"],
            let items = reader.sequence(hostsNode, "admin.allowed_hosts", of: "host names")
        {
            for (index, item) in items.enumerated() {
                let itemPath = YAMLReader.index("admin.allowed_hosts", index)
                guard let host = reader.string(item, itemPath) else { continue }
                if host.isEmpty || host.contains(where: { $0 == ":" || $0 == "/" || $0 == " " }) {
                    reader.fail(item, itemPath, "expected a host name without port or scheme, found '\(host)'")
                } else {
                    settings.allowedHosts.append(host.lowercased())
                }
            }
        }
        if settings.readTokenFile != nil && settings.tokenFile == nil {
            reader.fail(
                fields["read_token_file"] ?? node, "admin.read_token_file",
                "a read token without an admin token would leave changes open while reads are closed; set admin.token_file too")
        }
        // WEIR_ADMIN_TOKEN counts too: on Kubernetes a Secret reaches a non-root container as an
        // environment variable, since its files are group-readable there and would be refused.
        let tokenInEnvironment = !(ProcessInfo.processInfo.environment["WEIR_ADMIN_TOKEN"] ?? "").isEmpty
        if !settings.listen.isLoopback && settings.tokenFile == nil && !tokenInEnvironment {
            reader.fail(
                fields["listen"] ?? node, "admin.listen",
                "the admin API listens beyond loopback (\(settings.listen)) without a token; set admin.token_file (or WEIR_ADMIN_TOKEN)"
            )
        }
        return settings
    }

    private mutating func stateSettings(_ node: Node) -> StateSettings? {
        guard
            let fields = reader.mapping(
                node, "state", allowed: ["sqlite", "postgres", "password_file", "instance"])
        else { return nil }
        switch (fields["sqlite"], fields["postgres"]) {
        case (let sqlite?, nil):
            for key in ["password_file", "instance"] {
                if let extra = fields[key] { reader.fail(extra, "state.\(key)", "only used with state.postgres") }
            }
            return reader.string(sqlite, "state.sqlite").map { .sqlite(path: $0) }
        case (nil, let postgres?):
            guard let url = reader.string(postgres, "state.postgres") else { return nil }
            // `$NAME`: the URL comes from that environment variable at start (a Kubernetes Secret).
            if let name = PostgresSettings.environmentName(in: url) {
                guard !name.isEmpty, name.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else {
                    reader.fail(postgres, "state.postgres", "'\(url)' is not an environment variable such as $WEIR_POSTGRES_URL")
                    return nil
                }
            } else if case .failure(let problem) = PostgresURL.parse(url) {
                reader.fail(postgres, "state.postgres", problem.description)
                return nil
            }
            var settings = PostgresSettings(url: url)
            settings.passwordFile = fields["password_file"].flatMap { reader.string($0, "state.password_file") }
            if let instance = fields["instance"] {
                guard let name = reader.string(instance, "state.instance") else { return nil }
                guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:".contains($0) })
                else {
                    reader.fail(instance, "state.instance", "expected up to 64 letters, digits, '-', '_', '.' or ':', found '\(name)'")
                    return nil
                }
                settings.instance = name
            }
            return .postgres(settings)
        case (nil, nil):
            return .sqlite(path: "weir-state.sqlite")
        case (_, let postgres?):
            reader.fail(postgres, "state", "set either 'sqlite' or 'postgres', not both")
            return nil
        }
    }
}
