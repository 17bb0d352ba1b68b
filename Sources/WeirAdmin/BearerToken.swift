import WeirCore

/// The admin token and its check: a bearer token compared in constant time, so response timing
/// does not reveal how much of a guess was right.
public struct BearerToken: Sendable {
    private let expected: [UInt8]

    public init?(_ token: String) {
        let trimmed = token.trimmingWhitespace()
        guard !trimmed.isEmpty else { return nil }
        expected = Array(trimmed.utf8)
    }

    /// Whether an `Authorization` header value carries this token.
    public func accepts(authorization header: String?) -> Bool {
        // The scheme is case-insensitive (RFC 9110 §11.1).
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        return ConstantTime.equals(header.dropFirst(7).utf8, expected)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
