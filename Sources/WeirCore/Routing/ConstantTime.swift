/// Comparison of secrets (admin tokens, override secrets) without an early exit, so response
/// timing does not reveal how much of a guess was right.
public enum ConstantTime {
    /// Whether `offered` equals `expected`; the time taken depends on `expected`'s length only.
    public static func equals(_ offered: some Collection<UInt8>, _ expected: [UInt8]) -> Bool {
        var difference = UInt8(offered.count == expected.count ? 0 : 1)
        var cursor = offered.makeIterator()
        for byte in expected {
            difference |= byte ^ (cursor.next() ?? 0)
        }
        return difference == 0
    }
}
