/// How a shadow's answer is compared with the stable's (`shadow.compare`), chosen per route: the
/// predicted class, numbers within a tolerance, a score's distribution, or the whole JSON less an
/// ignore list. Pure: two parsed bodies in, a verdict out.
public struct OutputComparator: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The value at `path` is a class: a string, a number, or the argmax of a score vector.
        case label
        /// Numbers (or vectors) at `path` agree within `abs + rel·|stable|` each, or cosine ≥ `cosine`.
        case numeric
        /// A score at `path`: pairs agree as `numeric`; the distributions are compared (KS, PSI).
        case distribution
        /// The whole document, less the `ignore` keys (at any depth).
        case json
    }

    public var kind: Kind
    public var path: JSONPath?
    public var absolute: Double = 1e-6
    public var relative: Double = 1e-3
    /// For vectors: agree when their cosine similarity is at least this (instead of element-wise).
    public var cosine: Double?
    public var ignore: Set<String> = []
    /// Text is compared trimmed, lower-cased and with runs of white space as one space.
    public var normalize = false

    public init(kind: Kind, path: JSONPath? = nil) {
        self.kind = kind
        self.path = path
    }

    /// V2 inference responses: `outputs[0].data`, numerically.
    public static let v2 = OutputComparator(kind: .numeric, path: JSONPath("outputs[0].data"))
    /// OpenAI chat completions: `choices[0].message.content`, exactly.
    public static let openai = OutputComparator(kind: .label, path: JSONPath("choices[0].message.content"))

    /// What comparing one pair found.
    public struct Outcome: Sendable {
        public var agree: Bool
        /// The two classes (label) for the flip matrix.
        public var labels: (stable: String, other: String)?
        /// The two scores (distribution).
        public var scores: (stable: Double, other: Double)?
        /// What differs, for `weirctl diff` (a path, or the two values).
        public var detail: String

        public init(
            agree: Bool, labels: (stable: String, other: String)? = nil, scores: (stable: Double, other: Double)? = nil,
            detail: String
        ) {
            self.agree = agree
            self.labels = labels
            self.scores = scores
            self.detail = detail
        }
    }

    /// Compares the stable's answer with another's; nil when either lacks what the comparator reads.
    public func compare(stable: JSONValue, other: JSONValue) -> Outcome? {
        switch kind {
        case .json:
            var differences: [String] = []
            Self.diff(stable, other, at: "", ignore: ignore, into: &differences)
            return Outcome(agree: differences.isEmpty, detail: differences.prefix(5).joined(separator: ", "))
        case .label:
            // Compared whole; kept and shown bounded.
            guard let a = label(stable), let b = label(other) else { return nil }
            let (shownA, shownB) = (Self.shown(a), Self.shown(b))
            return Outcome(agree: a == b, labels: (shownA, shownB), detail: a == b ? "" : "\(shownA) → \(shownB)")
        case .numeric, .distribution:
            guard let a = numbers(stable), let b = numbers(other), a.count == b.count, !a.isEmpty else { return nil }
            let agree: Bool
            if let cosine, a.count > 1 {
                agree = Self.cosine(a, b) >= cosine
            } else {
                agree = zip(a, b).allSatisfy { abs($0 - $1) <= absolute + relative * abs($0) }
            }
            let shown = a.count == 1 ? "\(a[0]) → \(b[0])" : "\(a.count) values, first \(a[0]) → \(b[0])"
            return Outcome(agree: agree, scores: (a[0], b[0]), detail: agree ? "" : shown)
        }
    }

    private func value(_ document: JSONValue) -> JSONValue? {
        guard let path else { return document }
        return path.value(in: document)
    }

    /// Text from an upstream's answer as stored and shown (a class, a detail): at most `limit`
    /// characters, control characters as `?` — it ends up on an operator's terminal.
    public static func shown(_ text: String, limit: Int = 80) -> String {
        let scalars = text.unicodeScalars
        let kept = String(String.UnicodeScalarView(scalars.prefix(limit).map {
            $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "?" : $0
        }))
        return scalars.count > limit ? kept + "…" : kept
    }

    /// The class: a string (normalised if asked), a number, or the argmax of a vector of numbers.
    func label(_ document: JSONValue) -> String? {
        switch value(document) {
        case .string(let text): return normalize ? Self.normalized(text) : text
        case .number(let number): return JSONValue.number(number).description
        case .bool(let flag): return flag ? "true" : "false"
        case .array(let values):
            let scores = values.compactMap { if case .number(let n) = $0 { n } else { nil } }
            // One number is the class itself (`[2]`); several are scores, the class their argmax.
            if scores.count == 1 && values.count == 1 { return JSONValue.number(scores[0]).description }
            if scores.count == values.count, let best = scores.indices.max(by: { scores[$0] < scores[$1] }) {
                return "class \(best)"
            }
            if case .string(let first)? = values.first { return normalize ? Self.normalized(first) : first }
            return nil
        default: return nil
        }
    }

    /// Numbers at the path, flattened one level (`[[0.1, 0.9]]` → `[0.1, 0.9]`).
    func numbers(_ document: JSONValue) -> [Double]? {
        switch value(document) {
        case .number(let number): return [number]
        case .array(let values):
            var out: [Double] = []
            for element in values {
                switch element {
                case .number(let number): out.append(number)
                case .array(let inner):
                    for item in inner {
                        guard case .number(let number) = item else { return nil }
                        out.append(number)
                    }
                default: return nil
                }
            }
            return out
        default: return nil
        }
    }

    static func normalized(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        var dot = 0.0
        var normA = 0.0
        var normB = 0.0
        for (x, y) in zip(a, b) {
            dot += x * y
            normA += x * x
            normB += y * y
        }
        guard normA > 0, normB > 0 else { return normA == normB ? 1 : 0 }
        return dot / (normA.squareRoot() * normB.squareRoot())
    }

    /// Paths where two documents differ, keys in `ignore` skipped at any depth.
    public static func diff(_ a: JSONValue, _ b: JSONValue, at path: String, ignore: Set<String>, into out: inout [String]) {
        guard out.count < 20 else { return }
        switch (a, b) {
        case (.object(let list), .object):
            // Dictionaries: linear in the members, whatever their number.
            let left = a.members
            let right = b.members
            var seen = Set<String>()
            for key in list.map(\.0) + right.keys.sorted() where seen.insert(key).inserted && !ignore.contains(key) {
                guard out.count < 20 else { return }
                let child = path.isEmpty ? key : path + "." + key
                switch (left[key], right[key]) {
                case (let x?, let y?): diff(x, y, at: child, ignore: ignore, into: &out)
                default: out.append(child)
                }
            }
        case (.array(let left), .array(let right)):
            guard left.count == right.count else { return out.append(path + "[]") }
            for index in left.indices { diff(left[index], right[index], at: "\(path)[\(index)]", ignore: ignore, into: &out) }
        default:
            if a != b { out.append(path.isEmpty ? "$" : path) }
        }
    }
}

/// A path into a JSON document: `outputs[0].data`, `choices[0].message.content` (a leading `$.`
/// is allowed).
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    public enum Step: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public let steps: [Step]
    public let description: String

    /// nil when the text is not a path.
    public init?(_ text: String) {
        var rest = Substring(text)
        if rest.hasPrefix("$.") { rest = rest.dropFirst(2) } else if rest == "$" { rest = "" }
        // Not empty, no empty key (`a..b`, a trailing `.`), nothing glued after an index (`a[0]b`).
        guard !rest.isEmpty, !rest.hasSuffix("."), !rest.hasPrefix(".") else { return nil }
        var steps: [Step] = []
        var key = ""
        var index = rest.startIndex
        func endKey() { if !key.isEmpty { steps.append(.key(key)); key = "" } }
        while index < rest.endIndex {
            let character = rest[index]
            switch character {
            case ".":
                guard !key.isEmpty || steps.last.map({ if case .index = $0 { true } else { false } }) == true else {
                    return nil
                }
                endKey()
            case "[":
                endKey()
                guard let close = rest[index...].firstIndex(of: "]"), let number = Int(rest[rest.index(after: index)..<close]),
                    number >= 0
                else { return nil }
                steps.append(.index(number))
                index = close
            default:
                if case .index? = steps.last, key.isEmpty, rest[rest.index(before: index)] == "]" { return nil }
                key.append(character)
            }
            index = rest.index(after: index)
        }
        endKey()
        self.steps = steps
        self.description = text
    }

    public func value(in document: JSONValue) -> JSONValue? {
        var current = document
        for step in steps {
            switch step {
            case .key(let key): guard let next = current[key] else { return nil }; current = next
            case .index(let index): guard let next = current[index] else { return nil }; current = next
            }
        }
        return current
    }
}
