/// A dense number for one (route, version) pair, so per-request recording indexes an array instead
/// of hashing names. Assigned by `SeriesRegistry` and stable for the life of the process, across
/// config reloads.
public struct SeriesID: Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
}

/// The (route, version) names a series stands for, and whether it holds pinned requests (an
/// override), which are kept apart from the traffic the weights sent.
public struct SeriesKey: Sendable, Hashable, CustomStringConvertible {
    public var route: String
    public var version: String
    public var pinned: Bool
    public init(route: String, version: String, pinned: Bool = false) {
        self.route = route
        self.version = version
        self.pinned = pinned
    }
    public var description: String { "\(route)/\(version)" + (pinned ? " (pinned)" : "") }
}

/// Hands out `SeriesID`s; the same key always gets the same id.
public struct SeriesRegistry: Sendable {
    public private(set) var keys: [SeriesKey] = []
    private var ids: [SeriesKey: SeriesID] = [:]

    public init() {}

    public mutating func id(for key: SeriesKey) -> SeriesID {
        if let id = ids[key] { return id }
        let id = SeriesID(rawValue: keys.count)
        keys.append(key)
        ids[key] = id
        return id
    }

    public func existingID(for key: SeriesKey) -> SeriesID? { ids[key] }
}
