/// Maps a sticky key (a user id, a session cookie) to one of 10 000 buckets with a stable hash,
/// so the same key lands in the same bucket in every process and after every restart.
///
/// A key is on the canary when its bucket is below the canary's weight in basis points. Raising the
/// weight only widens that range, so a key never moves off the canary as a rollout advances
/// (monotone stickiness), and lowering it to 0 (a rollback) moves every key back.
public enum StickyBucket {
    /// FNV-1a over the key's UTF-8 bytes, then a 64-bit finaliser (splitmix) so that keys differing
    /// in one character spread over all buckets.
    @inlinable
    public static func bucket(for key: some StringProtocol) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        hash ^= hash >> 30
        hash &*= 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 27
        hash &*= 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return Int(hash % UInt64(TrafficSplit.fullScale))
    }
}
