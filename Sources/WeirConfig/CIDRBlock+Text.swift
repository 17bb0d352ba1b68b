#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import WeirCore

extension CIDRBlock {
    /// Parses `ADDRESS/BITS`, or a bare address (a block of one); the address by the system's
    /// `inet_pton`, so every textual form it accepts (`::`, embedded IPv4) is read as the kernel does.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = Self.addressBytes(String(parts[0])) else { return nil }
        var bits = address.count * 8
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(parts[1])
            else { return nil }
            bits = value
        }
        self.init(address: address, prefixLength: bits)
    }

    /// Whether a textual address lies in the block (false when it does not parse).
    public func contains(_ address: String) -> Bool {
        Self.addressBytes(address).map { contains($0) } ?? false
    }

    /// 4 bytes for IPv4, 16 for IPv6, in network order; nil when the text is neither.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
