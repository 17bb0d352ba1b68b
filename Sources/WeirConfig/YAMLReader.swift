import Yams

/// Walks a composed YAML node tree and records every problem it meets with its line and key path,
/// so the schema code can read field after field and still report all errors at the end.
struct YAMLReader {
    let file: String
    private(set) var errors: [ConfigError] = []

    init(file: String) {
        self.file = file
    }

    mutating func fail(_ node: Node?, _ path: String, _ message: String) {
        let mark = node?.mark
        errors.append(
            ConfigError(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, path: path, message: message))
    }

    /// The mapping's entries by key, after reporting keys outside `allowed`. Nil (and an error)
    /// when the node is not a mapping.
    mutating func mapping(_ node: Node, _ path: String, allowed: [String]) -> [String: Node]? {
        guard case .mapping(let mapping) = node else {
            fail(
                node, path,
                "expected a mapping with keys \(allowed.joined(separator: ", ")), found \(Self.describe(node))")
            return nil
        }
        var entries: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                fail(key, path, "expected a text key")
                continue
            }
            let keyPath = Self.join(path, name)
            if !allowed.contains(name) {
                fail(key, keyPath, "unknown key '\(name)'; expected one of: \(allowed.joined(separator: ", "))")
                continue
            }
            if entries[name] != nil {
                fail(key, keyPath, "duplicate key '\(name)'")
                continue
            }
            entries[name] = value
        }
        return entries
    }

    /// Every entry of a mapping whose keys are free-form names (versions, metadata).
    mutating func namedMapping(_ node: Node, _ path: String, what: String) -> [(name: String, key: Node, value: Node)]?
    {
        guard case .mapping(let mapping) = node else {
            fail(node, path, "expected a mapping of \(what), found \(Self.describe(node))")
            return nil
        }
        var out: [(String, Node, Node)] = []
        var seen: Set<String> = []
        for (key, value) in mapping {
            guard let name = key.string, !name.isEmpty else {
                fail(key, path, "expected a name as key")
                continue
            }
            guard seen.insert(name).inserted else {
                fail(key, Self.join(path, name), "duplicate key '\(name)'")
                continue
            }
            out.append((name, key, value))
        }
        return out
    }

    mutating func sequence(_ node: Node, _ path: String, of what: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            fail(node, path, "expected a list of \(what), found \(Self.describe(node))")
            return nil
        }
        return Array(sequence)
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node, scalar.tag != Tag(.null) || !scalar.string.isEmpty else {
            fail(node, path, "expected text, found \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    mutating func int(_ node: Node, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar = node, let value = Int(node.string ?? "") else {
            fail(node, path, "expected a whole number, found \(Self.describe(node))")
            return nil
        }
        guard range.contains(value) else {
            fail(node, path, "expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    mutating func number(_ node: Node, _ path: String) -> Double? {
        guard case .scalar = node, let text = node.string, let value = Double(text), value.isFinite else {
            fail(node, path, "expected a number, found \(Self.describe(node))")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node, _ path: String) -> Bool? {
        guard case .scalar = node, let value = node.bool else {
            fail(node, path, "expected true or false, found \(Self.describe(node))")
            return nil
        }
        return value
    }

    mutating func duration(_ node: Node, _ path: String) -> Duration? {
        guard case .scalar = node, let text = node.string, let value = DurationText.parse(text) else {
            fail(node, path, "expected a duration such as 250ms, 30s, 5m or 1h, found \(Self.describe(node))")
            return nil
        }
        return value
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    static func index(_ path: String, _ index: Int) -> String {
        "\(path)[\(index)]"
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.tag == Tag(.null) || (scalar.string.isEmpty && scalar.style == .plain) { return "nothing" }
            return "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
