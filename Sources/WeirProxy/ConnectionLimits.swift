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
