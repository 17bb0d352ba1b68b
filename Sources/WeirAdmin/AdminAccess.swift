/// Who may do what on the admin listener, checked in one place (`AdminGuard`) that every call
/// passes through: the tokens, the host names it answers to and its scheme.
public struct AdminAccess: Sendable {
    /// Needed by every call that changes something; also accepted for reads.
    public var adminToken: BearerToken?
    /// When set, reads (`GET`, `/metrics`) need it or the admin token. `/healthz` and `/readyz`
    /// stay open for probes.
    public var readToken: BearerToken?
    /// Host names the API answers to besides IP literals and `localhost`.
    public var allowedHosts: [String]
    /// `http` or `https`: an `Origin` must use the listener's own.
    public var scheme: String

    public init(adminToken: BearerToken?, readToken: BearerToken?, allowedHosts: [String], scheme: String) {
        self.adminToken = adminToken
        self.readToken = readToken
        self.allowedHosts = allowedHosts.map { $0.lowercased() }
        self.scheme = scheme
    }

    /// Open loopback access, as with no `admin` tokens configured.
    public static let loopback = AdminAccess(adminToken: nil, readToken: nil, allowedHosts: [], scheme: "http")

    /// Whether a `Host` header value names this listener: an IP literal (a DNS-rebinding page
    /// cannot make a browser send one for its own name), `localhost`, or an allowed name; any port.
    public func acceptsHost(_ value: String) -> Bool {
        guard let host = Self.hostPart(of: value) else { return false }
        if host == "localhost" || allowedHosts.contains(host) { return true }
        return Self.isIPLiteral(host)
    }

    /// Whether an `Origin` is this listener's own: same scheme, and the same host and port as
    /// the request's `Host`.
    public func acceptsOrigin(_ origin: String, host: String) -> Bool {
        let prefix = scheme + "://"
        guard origin.lowercased().hasPrefix(prefix) else { return false }
        let authority = origin.dropFirst(prefix.count)
        guard !authority.contains("/") else { return false }
        return Self.normalizedAuthority(String(authority), scheme: scheme)
            == Self.normalizedAuthority(host, scheme: scheme)
    }

    /// `host:port` lowercased, with the scheme's default port made explicit.
    static func normalizedAuthority(_ authority: String, scheme: String) -> String {
        let lowered = authority.lowercased()
        let hasPort: Bool
        if lowered.hasPrefix("[") {
            hasPort = lowered.contains("]:")
        } else {
            hasPort = lowered.contains(":")
        }
        return hasPort ? lowered : lowered + (scheme == "https" ? ":443" : ":80")
    }

    /// The host of a `host[:port]` authority, lowercased, brackets kept off IPv6; nil when
    /// malformed — anything after the host but a `:` and a port number included.
    static func hostPart(of authority: String) -> String? {
        let lowered = authority.lowercased()
        guard !lowered.isEmpty, !lowered.contains(where: { $0 == "/" || $0 == "@" || $0 == " " }) else { return nil }
        let host: Substring
        let rest: Substring
        if lowered.hasPrefix("[") {
            guard let close = lowered.firstIndex(of: "]") else { return nil }
            host = lowered[lowered.index(after: lowered.startIndex)..<close]
            rest = lowered[lowered.index(after: close)...]
        } else {
            let colon = lowered.firstIndex(of: ":") ?? lowered.endIndex
            host = lowered[..<colon]
            rest = lowered[colon...]
        }
        if !rest.isEmpty {
            let port = rest.dropFirst()
            guard rest.first == ":", (1...5).contains(port.count), port.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                return nil
            }
        }
        return host.isEmpty ? nil : String(host)
    }

    /// Dotted-quad IPv4 or (bracket-free) IPv6 text.
    static func isIPLiteral(_ host: String) -> Bool {
        if host.contains(":") { return host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                && Int(part).map { $0 <= 255 } == true
        }
    }
}
