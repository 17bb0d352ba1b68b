import NIOHTTP1

/// What Weir needs to know of gRPC: which requests are gRPC calls, where a call's status travels
/// (the trailers, or the head of a trailers-only answer), and which status Weir answers with when it
/// fails a call itself — gRPC clients read `grpc-status`, not the HTTP status or a JSON body.
enum GRPCCall {
    /// gRPC status codes Weir uses (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
    enum Code: Int {
        case ok = 0
        case unknown = 2
        case deadlineExceeded = 4
        case notFound = 5
        case resourceExhausted = 8
        case unavailable = 14
    }

    /// Whether the request is a gRPC call (`content-type: application/grpc`, `application/grpc+proto`, …).
    static func isCall(_ headers: HTTPHeaders) -> Bool {
        guard let type = headers.first(name: "content-type") else { return false }
        return type.utf8.count >= 16 && type.lowercased().hasPrefix("application/grpc")
    }

    /// The status a gRPC client sees when Weir answers a call with `status` itself.
    static func code(for status: HTTPResponseStatus) -> Code {
        switch status.code {
        case 404: .notFound
        case 504: .deadlineExceeded
        case 429: .resourceExhausted
        case 502, 503: .unavailable
        default: .unknown
        }
    }

    /// The status of a finished call from its `grpc-status` text (trailers, or the head of a
    /// trailers-only answer); nil when there was none — the stream was cut.
    static func status(_ text: String?) -> Int? {
        text.map { Int($0) ?? Code.unknown.rawValue }
    }

    /// `grpc-message` is percent-encoded: every byte outside printable ASCII, and '%' itself.
    static func encodeMessage(_ message: String) -> String {
        var out = ""
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7e && byte != 0x25 {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
