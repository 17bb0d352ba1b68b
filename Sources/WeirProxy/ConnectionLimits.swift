import WeirCore

/// Bounds on client connections, so slow or idle clients cannot pin the data plane's resources,
/// and the per-connection switches (the access log) that go with them.
public struct ConnectionLimits: Sendable {
    /// A connection with no complete request head this long after it opened or after its last
    /// response is closed (idle keep-alive, and slowloris clients that trickle a head).
    public var idleTimeout: Duration
    /// Client connections open at once, over all event loops; more are closed on accept.
    public var maxConnections: Int
    /// Request-head size (all header names and values), in bytes; larger heads get 431/400 and close.
    public var maxHeaderBytes: Int
    /// Header fields in one request head.
    public var maxHeaderCount: Int
    /// Longest wait between two reads of a request body (`server.client_body_timeout`): `408` after.
    public var clientBodyTimeout: Duration = .seconds(60)
    /// After an early answer, the rest of the request body is read and dropped for at most this long
    /// and this many bytes before the connection closes (nginx's `lingering_time`).
    public var lingerTime: Duration = .seconds(5)
    public var lingerBytes: Int = 1 << 20
    /// Peers whose `X-Forwarded-*` headers are believed (`server.trusted_proxies`).
    public var trustedProxies: [CIDRBlock] = []
    /// Where finished requests are logged (`server.access_log`); nil = no access log.
    public var accessLog: AccessLog?

    public init(
        idleTimeout: Duration = .seconds(60), maxConnections: Int = 10_000, maxHeaderBytes: Int = 64 * 1024,
        maxHeaderCount: Int = 100, accessLog: AccessLog? = nil
    ) {
        self.accessLog = accessLog
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
    }
}
