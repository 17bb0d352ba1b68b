import Testing
import WeirConfig
import WeirCore

/// `server.trusted_proxies` blocks: parsed from config text, matched against peer addresses.
@Suite struct CIDRBlockTests {
    @Test func matchesIPv4AndIPv6Blocks() throws {
        let v4 = try #require(CIDRBlock("10.1.0.0/16"))
        #expect(v4.contains("10.1.200.3"))
        #expect(!v4.contains("10.2.0.1"))
        #expect(v4.contains("::ffff:10.1.0.9"))
        let v6 = try #require(CIDRBlock("fd00::/8"))
        #expect(v6.contains("fd12:3456::1"))
        #expect(!v6.contains("fe80::1"))
        #expect(try #require(CIDRBlock("127.0.0.1")).contains("127.0.0.1"))
        #expect(!(try #require(CIDRBlock("127.0.0.1")).contains("127.0.0.2")))
    }

    @Test(arguments: ["10.0.0.0/33", "10.0.0/8", "::1/129", "abc", "1.2.3.4/x", "1::2::3"])
    func refusesMalformedBlocks(text: String) {
        #expect(CIDRBlock(text) == nil)
    }

    @Test func matchesNetworkOrderBytesAsTheSocketHoldsThem() throws {
        let block = try #require(CIDRBlock(address: [192, 168, 0, 0], prefixLength: 16))
        #expect(block.contains([192, 168, 7, 9] as [UInt8]))
        #expect(!block.contains([192, 169, 0, 1] as [UInt8]))
        #expect(CIDRBlock(address: [1, 2, 3], prefixLength: 8) == nil)
    }
}
