/// Which TLS versions and cipher suites a TLS endpoint of weir accepts — the data-plane listener,
/// the admin listener and the client side toward `https://` upstreams. The default is Mozilla's
/// "intermediate" profile: TLS 1.2 at least, ECDHE key exchange with AEAD suites only, so TLS 1.0,
/// static-RSA and CBC suites fail the handshake. Plain data; the TLS layer applies it.
public struct TLSPolicy: Sendable, Hashable {
    /// The lowest protocol version accepted.
    public enum Version: String, Sendable, Hashable, CaseIterable {
        case tls1_0 = "1.0"
        case tls1_1 = "1.1"
        case tls1_2 = "1.2"
        case tls1_3 = "1.3"
    }

    public var minVersion: Version
    /// OpenSSL cipher-suite list for TLS 1.2 and below (TLS 1.3 suites are all AEAD and fixed).
    public var ciphers: String

    /// Mozilla intermediate, less the DHE suites BoringSSL does not offer.
    public static let intermediateCiphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    public static let intermediate = TLSPolicy(minVersion: .tls1_2, ciphers: intermediateCiphers)

    public init(minVersion: Version = .tls1_2, ciphers: String = TLSPolicy.intermediateCiphers) {
        self.minVersion = minVersion
        self.ciphers = ciphers
    }

    /// The TLS 1.2 suites the TLS library (BoringSSL) knows by name. A `ciphers` list may name only
    /// these: BoringSSL stops the process on a list it cannot read, so a typo must be a config
    /// error, never a crash at start-up or reload.
    public static let knownCiphers = Set(intermediateCiphers.split(separator: ":").map(String.init)).union([
        "ECDHE-PSK-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES128-SHA",
        "ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-PSK-AES128-CBC-SHA",
        "ECDHE-PSK-AES256-CBC-SHA", "PSK-AES128-CBC-SHA", "PSK-AES256-CBC-SHA", "AES128-GCM-SHA256",
        "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA", "DES-CBC3-SHA",
    ])

    /// Names in `ciphers` the TLS library does not know (empty when the list is usable).
    public var unknownCiphers: [String] {
        ciphers.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            .filter { !Self.knownCiphers.contains($0) }
    }

    /// What is weaker than the intermediate profile, one sentence each (`weir check` prints them).
    public var weaknesses: [String] {
        var found: [String] = []
        if minVersion == .tls1_0 || minVersion == .tls1_1 {
            found.append("min_version \(minVersion.rawValue) accepts TLS versions with known attacks; use 1.2 or 1.3")
        }
        for suite in ciphers.split(separator: ":").map(String.init) where !Self.isStrong(suite) {
            found.append("cipher \(suite) is not ECDHE with an AEAD cipher (no forward secrecy or a CBC/RC4 mode)")
        }
        return found
    }

    /// ECDHE key exchange and an AEAD cipher (GCM or ChaCha20-Poly1305), or a TLS 1.3 suite.
    static func isStrong(_ suite: String) -> Bool {
        if suite.hasPrefix("TLS_AES_") || suite.hasPrefix("TLS_CHACHA20_") { return true }
        return suite.hasPrefix("ECDHE-") && (suite.contains("-GCM-") || suite.contains("CHACHA20-POLY1305"))
    }
}
