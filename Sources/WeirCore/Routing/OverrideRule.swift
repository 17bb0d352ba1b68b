/// Who may pin a request to a named version with a header (CONTRACT §8 "Overrides"), so that an
/// engineer can try a canary by hand without any client being able to steer the rollout. Off
/// unless a route configures it. A pin is believed only from an address in `trusted` or when the
/// request also carries `secret` in `secretHeader`; it never reaches a version the current
/// weights give 0 % (a rolled-back canary included) unless `allowInactive` says an operator wants
/// that; and pinned requests are measured in a series of their own that no verdict reads.
public struct OverrideRule: Sendable, Hashable {
    /// Lowercased name of the header naming the version (`x-weir-version`).
    public var header: String
    /// Client address blocks whose pins are believed.
    public var trusted: [CIDRBlock]
    /// Lowercased name of the header carrying the shared secret.
    public var secretHeader: String
    /// The file the secret is read from (`secret_file`), as configured.
    public var secretFile: String?
    /// The shared secret's bytes, read from `secretFile` by the config loader; nil = no secret accepted.
    public var secret: [UInt8]?
    /// Lets a pin reach a version the weights give 0 % (an operator's explicit choice).
    public var allowInactive: Bool

    public static let defaultHeader = "x-weir-version"
    public static let defaultSecretHeader = "x-weir-override-secret"

    public init(
        header: String = OverrideRule.defaultHeader, trusted: [CIDRBlock] = [],
        secretHeader: String = OverrideRule.defaultSecretHeader, secret: [UInt8]? = nil, allowInactive: Bool = false
    ) {
        self.header = header.lowercased()
        self.trusted = trusted
        self.secretHeader = secretHeader.lowercased()
        self.secret = secret
        self.allowInactive = allowInactive
    }

    /// Whether a pin from this client is believed: its address (network-order bytes) is in a
    /// trusted block, or it presented the secret.
    public func believes(clientAddress: [UInt8]?, presentedSecret: Substring?) -> Bool {
        if let clientAddress, trusted.contains(where: { $0.contains(clientAddress) }) { return true }
        guard let secret, let presentedSecret else { return false }
        return ConstantTime.equals(presentedSecret.utf8, secret)
    }

    /// Whether the pinned version may serve under `split`: it has weight, or the rule allows
    /// inactive versions.
    public func admits(versionIndex: Int, split: TrafficSplit) -> Bool {
        allowInactive || split.weightBasisPoints(of: versionIndex) > 0
    }
}
