import WeirCore
import WeirFleet
import WeirProxy

/// What a `RolloutController` in fleet mode knows of the fleet: the summed measurements it judges
/// and shows, whether it is the judge, the stored version of each route it last applied, and the
/// other instances with their configs (so instances that disagree about a route leave it alone).
public struct FleetView: Sendable {
    public let instance: String
    /// Every live instance's counts, summed per second and routed weight (local seconds).
    public let measurements: Measurements
    var isJudge = false
    /// The last local second whose counts every live instance has reported.
    var dataThrough: Int64?
    /// The stored version of each route this instance runs.
    var versions: [String: Int64] = [:]
    /// Changes of this instance's on their way to the store, by route.
    var committing: [String: Int] = [:]
    var instances: [FleetInstance] = []
    /// Routes whose stored rollout does not fit this instance's config, and why.
    var unfitting: [String: String] = [:]

    public init(instance: String, measurements: Measurements) {
        self.instance = instance
        self.measurements = measurements
    }

    /// Why this instance leaves `route`'s rollout alone, or nil: another live instance runs a
    /// different rollout config for it, or the stored rollout does not fit this one's.
    func disagreement(about route: RouteDefinition) -> String? {
        if let reason = unfitting[route.name] { return reason }
        let mine = route.rolloutFingerprint
        let others = instances.filter {
            $0.alive && $0.id != instance && $0.routes[route.name].map { $0 != mine } == true
        }
        guard !others.isEmpty else { return nil }
        let theirs = others.map { "\($0.id) has \($0.routes[route.name] ?? "")" }.joined(separator: "; ")
        return
            "instances disagree about \(route.name)'s rollout (this instance \(instance) has \(mine); \(theirs)); nobody changes it until their configs agree"
    }
}

extension RouteDefinition {
    /// Every route's fingerprint by name (route names are unique in a config).
    static func rolloutFingerprints(of routes: [RouteDefinition]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: routes.map { ($0.name, $0.rolloutFingerprint) })
    }

    /// What instances of a fleet must agree on to run one rollout of this route: its stable and
    /// canary, its versions and its steps.
    var rolloutFingerprint: String {
        "stable=\(versions[stableIndex].name) canary=\(canaryIndex.map { versions[$0].name } ?? "-") versions=\(versions.map(\.name).sorted().joined(separator: ",")) steps=\(policy.steps.map { Format.weight($0.weight) }.joined(separator: ","))"
    }
}

extension RolloutStatus {
    /// Whether an instance can route by this stored state with its own config for `route`: every
    /// version it names is configured there and its step exists — so during a rolling update of
    /// the config, instances keep routing the rollout the fleet stored, not the one they would start.
    func canRoute(_ route: RouteDefinition) -> Bool {
        let known = Set(route.versions.map(\.name))
        return known.contains(stable) && (canary.map(known.contains) ?? true)
            && route.policy.steps.indices.contains(step) && (pinnedPercent.map { (0...100).contains($0) } ?? true)
    }
}

extension RolloutCommand {
    /// Whether an operator may send it while a fleet's configs disagree about the route: the moves
    /// away from the canary (stopping a bad canary must never wait for a config rollout).
    var isSafeDuringDisagreement: Bool {
        switch self {
        case .rollback, .pause: true
        case .promote, .resume, .retry, .setWeight, .undo: false
        }
    }
}
