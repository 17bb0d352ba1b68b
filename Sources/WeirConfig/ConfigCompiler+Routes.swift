import WeirCore
import Yams

extension ConfigCompiler {
    static let routeKeys = [
        "name", "match", "timeout", "versions", "stable", "canary", "sticky", "override", "override_header", "policy", "ejection",
        "upstream_ca", "upstream_tls", "circuit_breakers", "llm", "shadow",
    ]

    mutating func routes(_ node: Node) -> [RouteDefinition] {
        guard let items = reader.sequence(node, "routes", of: "routes") else { return [] }
        if items.isEmpty { reader.fail(node, "routes", "expected at least one route") }
        var routes: [RouteDefinition] = []
        var names: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let path = YAMLReader.index("routes", index)
            guard let route = route(item, path) else { continue }
            if let first = names[route.name] {
                reader.fail(
                    item, YAMLReader.join(path, "name"), "duplicate route name '\(route.name)' (also routes[\(first)])")
                continue
            }
            names[route.name] = index
            routes.append(route)
        }
        return routes
    }

    private mutating func route(_ node: Node, _ path: String) -> RouteDefinition? {
        guard let fields = reader.mapping(node, path, allowed: Self.routeKeys) else { return nil }
        let name = required(fields, "name", in: node, path).flatMap { routeName($0, YAMLReader.join(path, "name")) }
        let match = required(fields, "match", in: node, path).flatMap { routeMatch($0, YAMLReader.join(path, "match")) }
        var timeout = Duration.seconds(30)
        if let timeoutNode = fields["timeout"],
            let value = reader.duration(timeoutNode, YAMLReader.join(path, "timeout"))
        {
            if value <= .zero {
                reader.fail(timeoutNode, YAMLReader.join(path, "timeout"), "expected a duration above 0")
            } else {
                timeout = value
            }
        }
        let versions = required(fields, "versions", in: node, path).flatMap {
            versionList($0, YAMLReader.join(path, "versions"))
        }
        let stable = required(fields, "stable", in: node, path).flatMap {
            versionRef($0, YAMLReader.join(path, "stable"), versions)
        }
        var canary: Int?
        if let canaryNode = fields["canary"] {
            canary = versionRef(canaryNode, YAMLReader.join(path, "canary"), versions)
            if let canary, let stable, canary == stable {
                reader.fail(
                    canaryNode, YAMLReader.join(path, "canary"), "the canary must differ from the stable version")
            }
        }
        let sticky = fields["sticky"].flatMap { stickySource($0, YAMLReader.join(path, "sticky")) }
        if let legacy = fields["override_header"] {
            reader.fail(
                legacy, YAMLReader.join(path, "override_header"),
                "replaced by override: { header, trusted: [CIDR…], secret_file } — pinning is off unless a route says who may pin"
            )
        }
        let override = fields["override"].flatMap { overrideRule($0, YAMLReader.join(path, "override")) }
        let policy = fields["policy"].map { self.policy($0, YAMLReader.join(path, "policy")) } ?? RolloutPolicy()
        if sticky != nil, let policyNode = fields["policy"], policy?.sequential != nil {
            // Sticky keys put all of one user's (retried) requests on one version, so events are no
            // longer independent draws with probability ρ: the judge's guarantee would not hold.
            reader.fail(
                policyNode, YAMLReader.join(path, "policy.judge"),
                "the sequential judge needs requests assigned independently; sticky routes break that — use judge: thresholds"
            )
        }
        var ejection = OutlierDetector.Settings()
        if let ejectionNode = fields["ejection"] {
            let ejectionPath = YAMLReader.join(path, "ejection")
            if let settings = reader.mapping(ejectionNode, ejectionPath, allowed: ["failures", "base", "max"]) {
                if let node = settings["failures"],
                    let value = reader.int(node, YAMLReader.join(ejectionPath, "failures"), range: 1...1000)
                {
                    ejection.consecutiveFailures = value
                }
                if let node = settings["base"], let value = reader.duration(node, YAMLReader.join(ejectionPath, "base"))
                {
                    ejection.baseEjection = value
                }
                if let node = settings["max"], let value = reader.duration(node, YAMLReader.join(ejectionPath, "max")) {
                    ejection.maxEjection = value
                }
            }
        }
        var breakers = CircuitBreakers()
        if let breakersNode = fields["circuit_breakers"] {
            let breakersPath = YAMLReader.join(path, "circuit_breakers")
            if let settings = reader.mapping(
                breakersNode, breakersPath, allowed: ["max_connections", "max_pending", "max_requests"])
            {
                func bound(_ key: String) -> Int? {
                    settings[key].flatMap { reader.int($0, YAMLReader.join(breakersPath, key), range: 1...1_000_000) }
                }
                if let value = bound("max_connections") { breakers.maxConnections = value }
                if let value = bound("max_pending") { breakers.maxPending = value }
                if let value = bound("max_requests") { breakers.maxRequests = value }
            }
        }
        let upstreamCA = fields["upstream_ca"].flatMap { reader.string($0, YAMLReader.join(path, "upstream_ca")) }
        var llm: LLMAPI?
        if let llmNode = fields["llm"], let text = reader.string(llmNode, YAMLReader.join(path, "llm")) {
            llm = LLMAPI(rawValue: text)
            if llm == nil {
                reader.fail(llmNode, YAMLReader.join(path, "llm"), "expected 'openai' or 'kserve', found '\(text)'")
            }
        }
        let shadow = fields["shadow"].flatMap {
            self.shadow($0, YAMLReader.join(path, "shadow"), versions: versions, stable: stable, canary: canary)
        }
        if let policy, let policyNode = fields["policy"] {
            let shadowSteps = policy.steps.contains(where: \.shadow)
            let shadowChecks = policy.checks.contains { $0.metric.isShadow }
            if shadowSteps && (canary == nil || shadow?.versionIndex != canary) {
                reader.fail(
                    policyNode, YAMLReader.join(path, "policy.steps"),
                    "a shadow step needs the route's shadow to be its canary: shadow: { version: <the canary>, compare: … }")
            }
            if shadowChecks && fields["shadow"] == nil {
                reader.fail(
                    policyNode, YAMLReader.join(path, "policy.checks"),
                    "disagreement, output_ks and output_psi are read from the route's shadow; it has none")
            }
        }
        guard let name, var policy, let match, let versions, let stable else { return nil }
        if llm != nil, case .sequential(var settings) = policy.judge {
            // Slow-token tests join the judge on LLM routes unless the policy says otherwise
            // (elsewhere nil stays off).
            settings.ttft = settings.ttft ?? .slowEvents(thresholdSeconds: nil)
            settings.tpot = settings.tpot ?? .slowEvents(thresholdSeconds: nil)
            policy.judge = .sequential(settings)
        }
        var route = RouteDefinition(
            name: name, match: match, timeout: timeout, versions: versions, stableIndex: stable,
            canaryIndex: canary, sticky: sticky, override: override, policy: policy
        )
        route.ejection = ejection
        route.llm = llm
        route.shadow = shadow
        route.upstreamCAFile = upstreamCA
        if let node = fields["upstream_tls"] {
            let tlsPath = YAMLReader.join(path, "upstream_tls")
            if let tlsFields = reader.mapping(node, tlsPath, allowed: ["min_version", "ciphers"]) {
                route.upstreamTLS = tlsPolicy(tlsFields, tlsPath)
            }
        }
        route.circuitBreakers = breakers
        return route
    }

    /// `override: { header, trusted, secret_file, secret_header, allow_inactive }`: at least one of
    /// `trusted` and `secret_file`, or nobody could pin.
    private mutating func overrideRule(_ node: Node, _ path: String) -> OverrideRule? {
        guard
            let fields = reader.mapping(
                node, path, allowed: ["header", "trusted", "secret_file", "secret_header", "allow_inactive"])
        else { return nil }
        var rule = OverrideRule()
        if let header = fields["header"].flatMap({ headerName($0, YAMLReader.join(path, "header")) }) {
            rule.header = header.lowercased()
        }
        if let header = fields["secret_header"].flatMap({ headerName($0, YAMLReader.join(path, "secret_header")) }) {
            rule.secretHeader = header.lowercased()
        }
        if let node = fields["trusted"] { rule.trusted = cidrList(node, YAMLReader.join(path, "trusted")) }
        rule.secretFile = fields["secret_file"].flatMap { reader.string($0, YAMLReader.join(path, "secret_file")) }
        if let node = fields["allow_inactive"], let value = reader.bool(node, YAMLReader.join(path, "allow_inactive")) {
            rule.allowInactive = value
        }
        if rule.trusted.isEmpty && rule.secretFile == nil {
            reader.fail(node, path, "names nobody who may pin: set trusted (CIDRs) or secret_file, or remove override")
        }
        if rule.header == rule.secretHeader {
            reader.fail(node, YAMLReader.join(path, "secret_header"), "must differ from the override header")
        }
        return rule
    }

    mutating func required(_ fields: [String: Node], _ key: String, in node: Node, _ path: String) -> Node? {
        if let value = fields[key] { return value }
        reader.fail(node, YAMLReader.join(path, key), "missing; this key is required")
        return nil
    }

    private mutating func routeName(_ node: Node, _ path: String) -> String? {
        guard let name = reader.string(node, path) else { return nil }
        let valid =
            !name.isEmpty
            && name.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d }
        guard valid else {
            reader.fail(node, path, "expected lowercase letters, digits and '-' ([a-z0-9-]+), found '\(name)'")
            return nil
        }
        return name
    }

    private mutating func headerName(_ node: Node, _ path: String) -> String? {
        guard let name = reader.string(node, path) else { return nil }
        let tokenBytes = name.utf8.allSatisfy { byte in
            (0x21...0x7e).contains(byte) && !"()<>@,;:\\\"/[]?={}".utf8.contains(byte)
        }
        guard !name.isEmpty, tokenBytes else {
            reader.fail(node, path, "expected an HTTP header name such as x-user-id, found '\(name)'")
            return nil
        }
        return name.lowercased()
    }

    private mutating func routeMatch(_ node: Node, _ path: String) -> RouteMatch? {
        guard let fields = reader.mapping(node, path, allowed: ["path_prefix", "host", "header"]) else { return nil }
        var match = RouteMatch()
        var valid = true
        if let prefixNode = fields["path_prefix"],
            let prefix = reader.string(prefixNode, YAMLReader.join(path, "path_prefix"))
        {
            if prefix.hasPrefix("/") {
                match.pathPrefix = prefix
            } else {
                reader.fail(
                    prefixNode, YAMLReader.join(path, "path_prefix"),
                    "expected a path starting with '/', found '\(prefix)'")
                valid = false
            }
        }
        if let hostNode = fields["host"], let host = reader.string(hostNode, YAMLReader.join(path, "host")) {
            match.host = host.lowercased()
        }
        if let headerNode = fields["header"] {
            let headerPath = YAMLReader.join(path, "header")
            if let entries = reader.namedMapping(headerNode, headerPath, what: "one header name to its value"),
                entries.count == 1,
                let value = reader.string(entries[0].value, YAMLReader.join(headerPath, entries[0].name)),
                let name = headerName(entries[0].key, headerPath)
            {
                match.header = RouteMatch.HeaderCondition(name: name, value: value)
            } else {
                reader.fail(headerNode, headerPath, "expected one header and its value, such as {x-tenant: acme}")
                valid = false
            }
        }
        return valid ? match : nil
    }

    private mutating func versionList(_ node: Node, _ path: String) -> [VersionDefinition]? {
        guard let entries = reader.namedMapping(node, path, what: "version names to their upstreams") else {
            return nil
        }
        if entries.isEmpty {
            reader.fail(node, path, "expected at least one version")
            return nil
        }
        var versions: [VersionDefinition] = []
        var valid = true
        for entry in entries {
            let versionPath = YAMLReader.join(path, entry.name)
            let nameIsValid = entry.name.utf8.allSatisfy { byte in
                (0x61...0x7a).contains(byte) || (0x41...0x5a).contains(byte) || (0x30...0x39).contains(byte)
                    || "._-".utf8.contains(byte)
            }
            if !nameIsValid {
                reader.fail(
                    entry.key, versionPath,
                    "expected a version name of letters, digits, '.', '_' and '-', found '\(entry.name)'")
                valid = false
            }
            guard let version = version(entry.value, versionPath, name: entry.name) else {
                valid = false
                continue
            }
            versions.append(version)
        }
        return valid ? versions : nil
    }

    private mutating func version(_ node: Node, _ path: String, name: String) -> VersionDefinition? {
        guard let fields = reader.mapping(node, path, allowed: ["upstreams", "metadata"]) else { return nil }
        guard let upstreamsNode = required(fields, "upstreams", in: node, path) else { return nil }
        let upstreamsPath = YAMLReader.join(path, "upstreams")
        guard let items = reader.sequence(upstreamsNode, upstreamsPath, of: "upstream URLs") else { return nil }
        if items.isEmpty {
            reader.fail(upstreamsNode, upstreamsPath, "expected at least one upstream URL")
            return nil
        }
        var upstreams: [UpstreamAddress] = []
        var valid = true
        for (index, item) in items.enumerated() {
            let itemPath = YAMLReader.index(upstreamsPath, index)
            guard let text = reader.string(item, itemPath) else {
                valid = false
                continue
            }
            guard let address = UpstreamAddress(parsing: text) else {
                reader.fail(
                    item, itemPath,
                    "expected a URL such as http://127.0.0.1:9001 (http, h2c or https; no path), found '\(text)'")
                valid = false
                continue
            }
            upstreams.append(address)
        }
        var metadata: [String: String] = [:]
        if let metadataNode = fields["metadata"] {
            let metadataPath = YAMLReader.join(path, "metadata")
            for entry in reader.namedMapping(metadataNode, metadataPath, what: "names to text values") ?? [] {
                if case .scalar = entry.value, let value = entry.value.string {
                    metadata[entry.name] = value
                } else {
                    reader.fail(
                        entry.value, YAMLReader.join(metadataPath, entry.name),
                        "expected a text value, found \(YAMLReader.describe(entry.value))")
                }
            }
        }
        return valid ? VersionDefinition(name: name, upstreams: upstreams, metadata: metadata) : nil
    }

    mutating func versionRef(_ node: Node, _ path: String, _ versions: [VersionDefinition]?) -> Int? {
        guard let name = reader.string(node, path) else { return nil }
        guard let versions else { return nil }
        guard let index = versions.firstIndex(where: { $0.name == name }) else {
            let known = versions.map(\.name).joined(separator: ", ")
            reader.fail(node, path, "unknown version '\(name)'; expected one of the route's versions: \(known)")
            return nil
        }
        return index
    }

    private mutating func stickySource(_ node: Node, _ path: String) -> StickyKeySource? {
        guard let fields = reader.mapping(node, path, allowed: ["header", "cookie"]) else { return nil }
        switch (fields["header"], fields["cookie"]) {
        case (let header?, nil):
            return headerName(header, YAMLReader.join(path, "header")).map { .header($0) }
        case (nil, let cookie?):
            return reader.string(cookie, YAMLReader.join(path, "cookie")).map { .cookie($0) }
        default:
            reader.fail(node, path, "expected exactly one of 'header' or 'cookie'")
            return nil
        }
    }
}
