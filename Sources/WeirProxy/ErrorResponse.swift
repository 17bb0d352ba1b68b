import NIOCore
import NIOHTTP1
import WeirCore

/// A response Weir writes itself (no route, upstream unreachable, timeout): a status and a JSON
/// body that names the route and version, so a client's logs say where the request died. A gRPC
/// call gets the same facts as a gRPC status in trailers instead (`grpcHead` + `grpcTrailers`).
struct ErrorResponse {
    /// The failure Weir decided; status, code and message follow from it.
    var failure: ProxyFailure
    var route: String?
    var version: String?

    var status: HTTPResponseStatus { HTTPResponseStatus(statusCode: failure.status) }
    var code: String { failure.name }
    var message: String { failure.message }

    func head(version httpVersion: HTTPVersion, closeConnection: Bool, bodyLength: Int) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(6)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(bodyLength))
        if let route { headers.add(name: "x-weir-route", value: route) }
        if let version { headers.add(name: "x-weir-version", value: version) }
        if closeConnection { headers.add(name: "connection", value: "close") }
        return HTTPResponseHead(version: httpVersion, status: status, headers: headers)
    }

    /// The head of the answer to a gRPC call: HTTP 200, the status follows in the trailers.
    func grpcHead(version httpVersion: HTTPVersion, closeConnection: Bool) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(4)
        headers.add(name: "content-type", value: "application/grpc")
        if let route { headers.add(name: "x-weir-route", value: route) }
        if let version { headers.add(name: "x-weir-version", value: version) }
        if closeConnection { headers.add(name: "connection", value: "close") }
        return HTTPResponseHead(version: httpVersion, status: .ok, headers: headers)
    }

    /// `grpc-status` and `grpc-message` for the failure this response describes.
    var grpcTrailers: HTTPHeaders {
        var trailers = HTTPHeaders()
        trailers.add(name: "grpc-status", value: String(GRPCCall.code(for: status).rawValue))
        var text = "weir: \(code): \(message)"
        if let route { text += " (route \(route)" + (version.map { ", version \($0)" } ?? "") + ")" }
        trailers.add(name: "grpc-message", value: GRPCCall.encodeMessage(text))
        return trailers
    }

    func body(allocator: ByteBufferAllocator) -> ByteBuffer {
        var fields = ["\"error\":\(Self.quote(code))", "\"message\":\(Self.quote(message))"]
        if let route { fields.append("\"route\":\(Self.quote(route))") }
        if let version { fields.append("\"version\":\(Self.quote(version))") }
        return allocator.buffer(string: "{" + fields.joined(separator: ",") + "}\n")
    }

    /// A JSON string literal.
    static func quote(_ text: String) -> String { JSONValue.string(text).description }
}
