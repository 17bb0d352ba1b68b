import NIOHTTP1

/// The headers that describe one connection rather than the message (RFC 9110 §7.6.1); a proxy
/// must not forward them. A request's framing is set explicitly by `RequestHeadRules`; a
/// response's is re-created by NIO's encoder toward the client.
/// `TE: trailers` is the one exception kept: it says the client accepts trailers, which gRPC needs
/// end to end (and it is the only TE value HTTP/2 allows).
enum HopByHopHeaders {
    static let names = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate",
    ]

    /// Headers a `Connection` header may never remove: the message's identity and framing, and the
    /// forwarding headers Weir itself vouches for (`Connection: host, x-forwarded-for` is an attack).
    static let protected: Set<String> = [
        "host", "content-length", "transfer-encoding", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "forwarded",
    ]

    /// What `strip` found while removing headers.
    struct Findings {
        /// The message used chunked transfer coding.
        var wasChunked = false
        /// The client sent `Expect: 100-continue` (removed: Weir answers it itself).
        var expectsContinue = false
        /// `TE` listed `trailers` (kept as `te: trailers`).
        var acceptsTrailers = false
    }

    /// Removes the hop-by-hop headers, any header the `Connection` header names (but the
    /// `protected` ones), and `Expect`.
    /// One scan when there is nothing to remove, which is the common case.
    static func strip(_ headers: inout HTTPHeaders) -> Findings {
        var findings = Findings()
        var removeHopByHop = false
        var removeExpect = false
        for header in headers {
            if names.contains(where: { equalsIgnoringCase(header.name, $0) }) {
                removeHopByHop = true
                if equalsIgnoringCase(header.name, "transfer-encoding"), header.value.lowercased().hasSuffix("chunked")
                {
                    findings.wasChunked = true
                } else if equalsIgnoringCase(header.name, "te"), header.value.lowercased().contains("trailers") {
                    findings.acceptsTrailers = true
                }
            } else if equalsIgnoringCase(header.name, "expect") {
                removeExpect = true
                findings.expectsContinue = equalsIgnoringCase(header.value, "100-continue")
            }
        }
        if removeExpect { headers.remove(name: "expect") }
        guard removeHopByHop else { return findings }
        for listed in headers[canonicalForm: "connection"] where !equalsIgnoringCase(listed, "close") {
            let name = listed.lowercased()
            if !protected.contains(name) { headers.remove(name: name) }
        }
        for name in names { headers.remove(name: name) }
        if findings.acceptsTrailers { headers.add(name: "te", value: "trailers") }
        return findings
    }

    /// ASCII case-insensitive equality without allocating lowercased copies.
    @inline(__always)
    static func equalsIgnoringCase(_ lhs: some StringProtocol, _ rhs: some StringProtocol) -> Bool {
        let left = lhs.utf8
        let right = rhs.utf8
        guard left.count == right.count else { return false }
        return zip(left, right).allSatisfy { a, b in
            a == b || (a ^ 0x20 == b && (a | 0x20) >= 0x61 && (a | 0x20) <= 0x7a)
        }
    }
}
