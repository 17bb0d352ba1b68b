/// A route's shadow as the admin API reports it (`shadow` in `GET /v1/routes/NAME`): how often the
/// candidate agrees with the stable, against how often the stable agrees with itself.
public struct ShadowStatusModel: Codable, Sendable, Hashable {
    public var version: String
    public var comparisons: UInt64
    public var differ: UInt64
    /// Share of compared requests where the shadow's answer agreed with the stable's.
    public var agreement: Double?
    /// The stable's agreement with a second copy of itself: the noise floor.
    public var noiseAgreement: Double?
    /// The shadow's disagreement above the floor.
    public var excess: Double?
    public var kappa: Double?
    public var ks: Double?
    public var psi: Double?
    public var errors: UInt64
    public var shed: UInt64
    /// The excess test's e-value (shows a difference at 1/α) and the agreement test's (shows agreement).
    public var excessEValue: Double
    public var agreementEValue: Double
    /// Stable class → shadow class → count, the most frequent flips first (label comparisons).
    public var flips: [FlipModel]

    public init(
        version: String, comparisons: UInt64, differ: UInt64, agreement: Double?, noiseAgreement: Double?,
        excess: Double?, kappa: Double?, ks: Double?, psi: Double?, errors: UInt64, shed: UInt64,
        excessEValue: Double, agreementEValue: Double, flips: [FlipModel]
    ) {
        self.version = version
        self.comparisons = comparisons
        self.differ = differ
        self.agreement = agreement
        self.noiseAgreement = noiseAgreement
        self.excess = excess
        self.kappa = kappa
        self.ks = ks
        self.psi = psi
        self.errors = errors
        self.shed = shed
        self.excessEValue = excessEValue
        self.agreementEValue = agreementEValue
        self.flips = flips
    }

    enum CodingKeys: String, CodingKey {
        case version, comparisons, differ, agreement, excess, kappa, ks, psi, errors, shed, flips
        case noiseAgreement = "noise_agreement"
        case excessEValue = "excess_e_value"
        case agreementEValue = "agreement_e_value"
    }
}

/// One cell of the flip matrix.
public struct FlipModel: Codable, Sendable, Hashable {
    public var stable: String
    public var shadow: String
    public var count: UInt64

    public init(stable: String, shadow: String, count: UInt64) {
        self.stable = stable
        self.shadow = shadow
        self.count = count
    }
}

/// `GET /v1/routes/NAME/diff?limit=N`: the latest pairs of answers that disagreed, newest first.
public struct ShadowDiffModel: Codable, Sendable, Hashable {
    public var route: String
    public var pairs: [DisagreementModel]

    public init(route: String, pairs: [DisagreementModel]) {
        self.route = route
        self.pairs = pairs
    }
}

/// One disagreeing pair: the request's digest and both answers (redacted, shortened).
public struct DisagreementModel: Codable, Sendable, Hashable {
    public var at: String
    public var request: String
    public var stable: String
    public var shadow: String
    public var detail: String

    public init(at: String, request: String, stable: String, shadow: String, detail: String) {
        self.at = at
        self.request = request
        self.stable = stable
        self.shadow = shadow
        self.detail = detail
    }
}
