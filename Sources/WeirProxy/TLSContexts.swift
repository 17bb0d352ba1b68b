import NIOSSL
import WeirCore

/// Builds the TLS contexts of the data plane from PEM files: the listener's (ALPN `h2` and
/// `http/1.1`, optional client-certificate check) and the client side's for `https://` upstreams.
public enum TLSContexts {
    /// The protocols offered by ALPN, most preferred first.
    public static let applicationProtocols = ["h2", "http/1.1"]

    /// A listener's configuration (data plane or admin), holding to `policy`. With `clientCAFile`, a
    /// client must present a certificate signed by one of those authorities or the handshake fails
    /// (mutual TLS).
    public static func serverConfiguration(
        certificateFile: String, keyFile: String, clientCAFile: String?, policy: TLSPolicy,
        applicationProtocols: [String] = TLSContexts.applicationProtocols
    ) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        configuration.applicationProtocols = applicationProtocols
        apply(policy, to: &configuration)
        if let clientCAFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCAFile))
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }

    /// The context for `https://` upstreams: trusts `caFile`'s authorities, or the system's when nil;
    /// verifies the upstream's name; offers h2 first; holds to `policy`.
    public static func upstreamClient(caFile: String?, policy: TLSPolicy = .intermediate) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        configuration.applicationProtocols = applicationProtocols
        apply(policy, to: &configuration)
        return try NIOSSLContext(configuration: configuration)
    }

    /// Sets the minimum version and the TLS ≤ 1.2 cipher list.
    public static func apply(_ policy: TLSPolicy, to configuration: inout TLSConfiguration) {
        configuration.minimumTLSVersion =
            switch policy.minVersion {
            case .tls1_0: .tlsv1
            case .tls1_1: .tlsv11
            case .tls1_2: .tlsv12
            case .tls1_3: .tlsv13
            }
        configuration.cipherSuites = policy.ciphers
    }
}
