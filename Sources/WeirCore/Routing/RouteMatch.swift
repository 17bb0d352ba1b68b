/// The conditions a request must meet to belong to a route; every condition present must hold.
public struct RouteMatch: Sendable, Hashable {
    /// The request path must start with this (`/v1/models/fraud` matches `/v1/models/fraud:predict`).
    public var pathPrefix: String?
    /// The request's `Host` (port stripped, case-insensitive) must equal this.
    public var host: String?
    /// A request header (name lowercased) that must carry exactly this value.
    public var header: HeaderCondition?

    /// One header-equality condition.
    public struct HeaderCondition: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name.lowercased()
            self.value = value
        }
    }

    public init(pathPrefix: String? = nil, host: String? = nil, header: HeaderCondition? = nil) {
        self.pathPrefix = pathPrefix
        self.host = host?.lowercased()
        self.header = header
    }

    /// Whether a request fits. `headerValue` looks a header up by lowercased name.
    @inlinable
    public func matches(path: String, host requestHost: String?, headerValue: (String) -> String?) -> Bool {
        // Bytes, not Unicode characters: a path prefix is a prefix of the request target as sent.
        if let pathPrefix, !path.utf8.starts(with: pathPrefix.utf8) { return false }
        if let host {
            guard let requestHost else { return false }
            if RouteMatch.hostWithoutPort(requestHost).lowercased() != host { return false }
        }
        if let header {
            guard headerValue(header.name) == header.value else { return false }
        }
        return true
    }

    @usableFromInline
    static func hostWithoutPort(_ host: String) -> Substring {
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { return host[host.index(after: host.startIndex)..<close] }
            return Substring(host)
        }
        if let colon = host.lastIndex(of: ":") { return host[..<colon] }
        return Substring(host)
    }
}
