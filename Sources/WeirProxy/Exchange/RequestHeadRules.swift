import NIOHTTP1
import WeirCore

/// The rules every request head passes before it is routed — on HTTP/1.1 and HTTP/2 alike, in this
/// one place — and the head forwarded upstream that they produce:
///
/// - **Framing by construction**: a request with a body (content-length > 0, chunked, or HTTP/2
///   DATA) goes upstream with an explicit `content-length` or `transfer-encoding: chunked`, whatever
///   the method; NIO's encoder toward the upstream no longer frames by method, so nothing can drop it.
///   Contradictory or duplicated framing, and `Transfer-Encoding` on HTTP/1.0 (RFC 9112 §6.1), is `400`.
/// - `TRACE` and `CONNECT` are `405`; a duplicate `Host`, or none on HTTP/1.1, is `400`.
/// - The path is normalised (`PathNormalizer`); routes match, and the upstream gets, the normal form.
/// - `Connection` cannot remove `HopByHopHeaders.protected`.
/// - `X-Forwarded-For/-Proto/-Host` say what Weir saw; incoming ones are kept (appended to) only
///   from `server.trusted_proxies`.
enum RequestHeadRules {
    /// What Weir knows about the client connection.
    struct Client {
        /// The peer's IP address, as the socket reports it.
        var address: String?
        /// The client came over TLS.
        var secure: Bool
        /// The peer is a proxy whose forwarding headers are believed.
        var isTrustedProxy: Bool
    }

    /// A head that passed, ready to route and forward.
    struct Prepared {
        /// The head for the upstream: HTTP/1.1, normalised path, explicit framing, forwarding headers.
        var forwarded: HTTPRequestHead
        var hasBody: Bool
        var expectsContinue: Bool
        var isIdempotent: Bool
    }

    /// `headersEndedStream`: for HTTP/2, the HEADERS frame carried END_STREAM (no DATA follows).
    static func prepare(
        _ head: HTTPRequestHead, isHTTP2: Bool, headersEndedStream: Bool, client: Client
    ) -> Result<Prepared, ProxyFailure> {
        switch head.method {
        case .TRACE, .CONNECT:
            return .failure(.methodNotAllowed("\(head.method.rawValue) is not served through weir"))
        default:
            break
        }
        // One scan for everything the rules need; no allocation.
        let headers = head.headers
        var hostCount = 0
        var host: String?
        var lengthCount = 0
        var lengthText: String?
        var codings = 0
        var forwardingHeaders = false
        for header in headers {
            let name = header.name
            if HopByHopHeaders.equalsIgnoringCase(name, "host") {
                hostCount += 1
                host = header.value
            } else if HopByHopHeaders.equalsIgnoringCase(name, "content-length") {
                lengthCount += 1
                lengthText = header.value
            } else if HopByHopHeaders.equalsIgnoringCase(name, "transfer-encoding") {
                codings += 1
            } else if HopByHopHeaders.equalsIgnoringCase(name, "forwarded")
                || (name.utf8.count > 12 && HopByHopHeaders.equalsIgnoringCase(name.prefix(12), "x-forwarded-"))
            {
                forwardingHeaders = true
            }
        }
        if hostCount > 1 { return .failure(.badRequest("more than one Host header")) }
        if hostCount == 0 && !isHTTP2 && head.version == .http1_1 {
            return .failure(.badRequest("HTTP/1.1 request without a Host header"))
        }
        if codings > 0 && head.version == .http1_0 {
            return .failure(.badRequest("Transfer-Encoding is not allowed on HTTP/1.0"))
        }
        if codings > 0 && lengthCount > 0 {
            return .failure(.badRequest("both Content-Length and Transfer-Encoding"))
        }
        if lengthCount > 1 { return .failure(.badRequest("more than one Content-Length header")) }
        var length: UInt64?
        if let text = lengthText {
            guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = UInt64(text)
            else { return .failure(.badRequest("invalid Content-Length")) }
            length = value
        }
        let hasBody: Bool =
            if let length { length > 0 } else { codings > 0 || (isHTTP2 && !headersEndedStream) }

        guard let path = PathNormalizer.normalize(head.uri) else {
            return .failure(.badRequest("the request path does not normalise (RFC 3986 dot-segments)"))
        }

        var forwarded = head
        forwarded.version = .http1_1
        forwarded.uri = path
        // The stripper removes `Transfer-Encoding` and can never remove `Content-Length` (protected),
        // so the validated length goes upstream as the client wrote it; a body without one goes chunked.
        let findings = HopByHopHeaders.strip(&forwarded.headers)
        if length == nil && hasBody {
            forwarded.headers.add(name: "transfer-encoding", value: "chunked")
        }
        setForwardingHeaders(
            &forwarded.headers, original: headers, host: host, replace: forwardingHeaders, client: client)
        return .success(
            Prepared(
                forwarded: forwarded, hasBody: hasBody, expectsContinue: findings.expectsContinue,
                isIdempotent: UpstreamSelector.isIdempotent(method: head.method.rawValue)))
    }

    /// `replace`: the client sent forwarding headers of its own, which must go (or, from a trusted
    /// proxy, be built on); without any, the common case, nothing is scanned or removed.
    private static func setForwardingHeaders(
        _ headers: inout HTTPHeaders, original: HTTPHeaders, host: String?, replace: Bool, client: Client
    ) {
        let trusted = client.isTrustedProxy && replace
        let previousFor = trusted ? original[canonicalForm: "x-forwarded-for"].joined(separator: ", ") : ""
        let previousProto = trusted ? original.first(name: "x-forwarded-proto") : nil
        let previousHost = trusted ? original.first(name: "x-forwarded-host") : nil
        if replace {
            headers.remove(name: "x-forwarded-for")
            headers.remove(name: "x-forwarded-proto")
            headers.remove(name: "x-forwarded-host")
            if !client.isTrustedProxy { headers.remove(name: "forwarded") }
        }
        let address = client.address ?? "unknown"
        headers.add(name: "x-forwarded-for", value: previousFor.isEmpty ? address : previousFor + ", " + address)
        headers.add(name: "x-forwarded-proto", value: previousProto ?? (client.secure ? "https" : "http"))
        if let host = previousHost ?? host {
            headers.add(name: "x-forwarded-host", value: host)
        }
    }
}
