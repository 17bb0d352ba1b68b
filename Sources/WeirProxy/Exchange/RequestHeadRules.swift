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
        let headers = head.headers
        var hostCount = 0
        var lengths: [String] = []
        var codings = 0
        for header in headers {
            if HopByHopHeaders.equalsIgnoringCase(header.name, "host") {
                hostCount += 1
            } else if HopByHopHeaders.equalsIgnoringCase(header.name, "content-length") {
                lengths.append(header.value)
            } else if HopByHopHeaders.equalsIgnoringCase(header.name, "transfer-encoding") {
                codings += 1
            }
        }
        if hostCount > 1 { return .failure(.badRequest("more than one Host header")) }
        if hostCount == 0 && !isHTTP2 && head.version == .http1_1 {
            return .failure(.badRequest("HTTP/1.1 request without a Host header"))
        }
        if codings > 0 && (head.version.major == 1 && head.version.minor == 0) {
            return .failure(.badRequest("Transfer-Encoding is not allowed on HTTP/1.0"))
        }
        if codings > 0 && !lengths.isEmpty {
            return .failure(.badRequest("both Content-Length and Transfer-Encoding"))
        }
        if lengths.count > 1 { return .failure(.badRequest("more than one Content-Length header")) }
        var length: UInt64?
        if let text = lengths.first {
            guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = UInt64(text)
            else { return .failure(.badRequest("invalid Content-Length")) }
            length = value
        }
        let chunked = codings > 0
        let hasBody: Bool =
            if let length { length > 0 } else { chunked || (isHTTP2 && !headersEndedStream) }

        guard let path = PathNormalizer.normalize(head.uri) else {
            return .failure(.badRequest("the request path does not normalise (RFC 3986 dot-segments)"))
        }

        var forwarded = head
        forwarded.version = .http1_1
        forwarded.uri = path
        let findings = HopByHopHeaders.strip(&forwarded.headers)
        forwarded.headers.remove(name: "content-length")
        forwarded.headers.remove(name: "transfer-encoding")
        if let length {
            forwarded.headers.add(name: "content-length", value: String(length))
        } else if hasBody {
            forwarded.headers.add(name: "transfer-encoding", value: "chunked")
        }
        setForwardingHeaders(&forwarded.headers, original: headers, client: client)
        return .success(
            Prepared(
                forwarded: forwarded, hasBody: hasBody, expectsContinue: findings.expectsContinue,
                isIdempotent: UpstreamSelector.isIdempotent(method: head.method.rawValue)))
    }

    private static func setForwardingHeaders(_ headers: inout HTTPHeaders, original: HTTPHeaders, client: Client) {
        let trusted = client.isTrustedProxy
        let previousFor = trusted ? original[canonicalForm: "x-forwarded-for"].joined(separator: ", ") : ""
        let previousProto = trusted ? original.first(name: "x-forwarded-proto") : nil
        let previousHost = trusted ? original.first(name: "x-forwarded-host") : nil
        headers.remove(name: "x-forwarded-for")
        headers.remove(name: "x-forwarded-proto")
        headers.remove(name: "x-forwarded-host")
        if !trusted { headers.remove(name: "forwarded") }
        let address = client.address ?? "unknown"
        headers.add(name: "x-forwarded-for", value: previousFor.isEmpty ? address : previousFor + ", " + address)
        headers.add(name: "x-forwarded-proto", value: previousProto ?? (client.secure ? "https" : "http"))
        if let host = previousHost ?? original.first(name: "host") {
            headers.add(name: "x-forwarded-host", value: host)
        }
    }
}
