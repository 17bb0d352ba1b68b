import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import WeirCore

/// The HTTP client of weir's control plane — webhooks and `weirctl` — on async-http-client:
/// `https://` with certificate and host-name verification, TLS 1.2 or later with the
/// intermediate suites (`TLSPolicy`), no redirects followed (a webhook URL is where the event
/// goes, nowhere else), whole small responses. Not for the data plane.
public enum ControlHTTPClient {
    /// What came back.
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    /// The files a client's TLS uses: authorities to trust (nil = the system's) and an optional
    /// client certificate for a listener that asks for one.
    public struct TLSFiles: Sendable, Hashable {
        public var caFile: String?
        public var certificateFile: String?
        public var keyFile: String?

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// A client with these TLS files. The caller shuts it down (`HTTPClient.shutdown()`), or keeps
    /// it for the life of the process.
    public static func makeClient(tls files: TLSFiles = TLSFiles()) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.cipherSuites = TLSPolicy.intermediateCiphers
        if let caFile = files.caFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        if let certificateFile = files.certificateFile, let keyFile = files.keyFile {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: HTTPClient.Configuration.Timeout(connect: .seconds(5), read: .seconds(10)))
        configuration.httpVersion = .http1Only
        // A refused connection or a failed handshake fails the call at once with its own error
        // (the caller retries with back-off), rather than waiting out the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// One request; the whole response (at most `maxBody` bytes).
    public static func send(
        _ client: HTTPClient, method: String, url: String, headers: [(String, String)], body: [UInt8]?,
        timeout: Duration = .seconds(10), maxBody: Int = 16 * 1024 * 1024
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let (seconds, attoseconds) = timeout.components
        let response = try await client.execute(
            request, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
        let bytes = try await response.body.collect(upTo: maxBody)
        return Response(status: Int(response.status.code), body: Array(bytes.readableBytesView))
    }

    /// A failure in a few words for people, by its type: `connection refused`, `timed out`,
    /// `TLS handshake failed (…)`.
    public static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            return String(cString: strerror(io.errnoCode)).lowercased()
        }
        if isTLSFailure(error) { return "TLS handshake failed (\(error))" }
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout, .readTimeout, .deadlineExceeded: return "timed out"
            case .remoteConnectionClosed: return "the connection closed before an answer"
            default: return "\(client)"
            }
        }
        return "\(error)"
    }

    /// Whether a failure was the TLS handshake: a certificate that did not verify, an old protocol.
    public static func isTLSFailure(_ error: any Error) -> Bool {
        error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError
    }
}
