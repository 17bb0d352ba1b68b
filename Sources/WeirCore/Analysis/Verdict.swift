/// The judgement of one analysis window, with the one-line reason an operator reads.
public enum Verdict: Sendable, Hashable {
    /// Every check passed.
    case success(reason: String)
    /// At least one check failed; the reason names it with its numbers.
    case failure(reason: String)
    /// Too few canary requests to judge; neither advances nor counts as a failure.
    case inconclusive(reason: String)

    public var reason: String {
        switch self {
        case .success(let reason), .failure(let reason), .inconclusive(let reason): reason
        }
    }

    /// `success`, `failure` or `inconclusive`, for metrics and JSON.
    public var name: String {
        switch self {
        case .success: "success"
        case .failure: "failure"
        case .inconclusive: "inconclusive"
        }
    }
}
