/// Normalises a request target's path the way Envoy's `normalize_path` does, so that the path a
/// route matches is the path the upstream receives: RFC 3986 §5.2.4 dot-segment removal, with
/// percent-encoded dots (`%2e`) treated as dots, since an upstream may decode them and walk out of
/// the prefix a route matched (`/v1/models/a/%2e%2e/b`).
///
/// A target that does not normalise is refused (the caller answers `400`): not origin-form (no
/// leading `/`), a `..` above the root, a malformed or NUL percent-escape, a backslash or a `#`.
/// The query string is kept as it is. `//` is kept (Envoy's `merge_slashes` is off by default).
public enum PathNormalizer {
    /// The normalised target (path + `?query`), or nil when it does not normalise.
    public static func normalize(_ target: String) -> String? {
        let utf8 = target.utf8
        guard utf8.first == UInt8(ascii: "/") else { return nil }
        // Fast path: nothing to decode or remove, which is the common case; no allocation.
        var needsWork = false
        var previous: UInt8 = 0
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "?") { break }
            switch byte {
            case UInt8(ascii: "\\"), UInt8(ascii: "#"), 0: return nil
            case UInt8(ascii: "%"): needsWork = true
            case UInt8(ascii: ".") where previous == UInt8(ascii: "/") || previous == UInt8(ascii: "."):
                needsWork = true
            default: break
            }
            previous = byte
            index = utf8.index(after: index)
        }
        guard needsWork else { return target }
        let query = index == utf8.endIndex ? Substring() : Substring(target[index...])
        let path = Substring(target[..<index])
        var segments: [Substring] = []
        var parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)[...]
        while let segment = parts.popFirst() {
            guard let decoded = decodedDots(segment) else { return nil }
            let isLast = parts.isEmpty
            switch decoded {
            case ".":
                if isLast { segments.append("") }
            case "..":
                guard !segments.isEmpty else { return nil }
                segments.removeLast()
                if isLast { segments.append("") }
            default:
                segments.append(segment)
            }
        }
        return "/" + segments.joined(separator: "/") + query
    }

    /// The segment with `%2e`/`%2E` read as `.` when it consists only of dots (so `.`/`..` can be
    /// recognised); the segment as it is otherwise. Nil when a percent-escape is malformed or NUL.
    private static func decodedDots(_ segment: Substring) -> Substring? {
        var dotsOnly = true
        var dots = 0
        var bytes = segment.utf8[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard let high = bytes.popFirst().flatMap(hexValue), let low = bytes.popFirst().flatMap(hexValue) else {
                    return nil
                }
                let value = high << 4 | low
                if value == 0 { return nil }
                if value == UInt8(ascii: ".") { dots += 1 } else { dotsOnly = false }
            } else if byte == UInt8(ascii: ".") {
                dots += 1
            } else {
                dotsOnly = false
            }
        }
        guard dotsOnly, dots == 1 || dots == 2 else { return segment }
        return dots == 1 ? "." : ".."
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
