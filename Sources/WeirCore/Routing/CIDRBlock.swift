/// An IPv4 or IPv6 address block (`10.0.0.0/8`, `::1/128`): `server.trusted_proxies`. Addresses
/// are compared as network-order bytes, as the socket layer holds them — the data plane never
/// formats or parses a peer's address to check it. An IPv4-mapped IPv6 peer (`::ffff:10.1.2.3`)
/// matches the IPv4 block it maps to. Text is parsed by `WeirConfig` (the system's `inet_pton`).
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes, masked to `prefixLength`.
    public let network: [UInt8]
    public let prefixLength: Int

    /// Nil when `address` is not 4 or 16 bytes or the prefix does not fit it.
    public init?(address: [UInt8], prefixLength: Int) {
        guard address.count == 4 || address.count == 16, (0...address.count * 8).contains(prefixLength) else {
            return nil
        }
        self.network = Self.masked(address, bits: prefixLength)
        self.prefixLength = prefixLength
    }

    /// Whether the address (4 or 16 network-order bytes) lies in the block. Compares byte by byte
    /// under the mask, allocating nothing: it runs for every request a trusted-source rule sees.
    public func contains(_ address: some Collection<UInt8>) -> Bool {
        var bytes = address.makeIterator()
        if address.count == 16 && network.count == 4 {
            // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it maps.
            for index in 0..<12 {
                let byte = bytes.next() ?? 0
                guard byte == (index < 10 ? 0 : 0xff) else { return false }
            }
        } else if address.count != network.count {
            return false
        }
        for index in network.indices {
            let keep = max(0, min(8, prefixLength - index * 8))
            let mask: UInt8 = keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
            guard (bytes.next() ?? 0) & mask == network[index] else { return false }
        }
        return true
    }

    public var description: String {
        let address: String
        if network.count == 4 {
            address = network.map(String.init).joined(separator: ".")
        } else {
            address = stride(from: 0, to: 16, by: 2)
                .map { String(UInt16(network[$0]) << 8 | UInt16(network[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return "\(address)/\(prefixLength)"
    }

    private static func masked(_ bytes: [UInt8], bits: Int) -> [UInt8] {
        var out = bytes
        for index in out.indices {
            let keep = max(0, min(8, bits - index * 8))
            out[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        return out
    }
}
