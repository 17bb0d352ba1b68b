import NIOSSL

/// Builds the TLS contexts of the data plane from PEM files: the listener's (ALPN `h2` and
/// `http/1.1`, optional client-certificate check) and the client side's for `https://` upstreams.
public enum TLSContexts {
    /// The protocols offered by ALPN, most preferred first.
    static let applicationProtocols = ["h2", "http/1.1"]

    /// The listener's context. With `clientCAFile`, a client must present a certificate signed by one
    /// of those authorities or the handshake fails (mutual TLS).
    public static func server(certificateFile: String, keyFile: String, clientCAFile: String?) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        configuration.applicationProtocols = applicationProtocols
        if let clientCAFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCAFile))
            configuration.certificateVerification = .noHostnameVerification
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The context for `https://` upstreams: trusts `caFile`'s authorities, or the system's when nil;
    /// verifies the upstream's name; offers h2 first.
    public static func upstreamClient(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        configuration.applicationProtocols = applicationProtocols
        return try NIOSSLContext(configuration: configuration)
    }
}
