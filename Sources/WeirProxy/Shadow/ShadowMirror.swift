#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import NIOCore
import NIOHTTP1
import WeirCore

/// Sends a finished exchange's request to the route's shadow version (and, with `noise: 2`, to the
/// stable again), then compares their answers with the one the client got and records the result
/// in the `ShadowBook`. Runs on the exchange's event loop after the client's answer was written,
/// so it never delays it; `max_in_flight` copies per loop at most, the rest are shed.
final class ShadowMirror {
    /// A request and the stable's answer, captured as they passed.
    struct Capture {
        var parts: [HTTPClientRequestPart]
        var bodyBytes = 0
        var responseBody: [UInt8] = []
        var responseTooLong = false

        /// Keeps a part of the stable's answer (within `maxBody`).
        mutating func keep(response part: ByteBuffer, maxBody: Int) {
            guard !responseTooLong else { return }
            if responseBody.count + part.readableBytes > maxBody {
                responseTooLong = true
                responseBody = []
            } else {
                responseBody.append(contentsOf: part.readableBytesView)
            }
        }

        /// `POST /v2/models/x/infer #3f9a1c02d4e7`: the request's method, path and a hash of its body
        /// (FNV-1a), so equal inputs show equal digests without storing them.
        var digest: String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            var line = ""
            for part in parts {
                switch part {
                case .head(let head): line = "\(head.method.rawValue) \(head.uri.split(separator: "?").first ?? "")"
                case .body(.byteBuffer(let buffer)):
                    for byte in buffer.readableBytesView {
                        hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
                    }
                default: break
                }
            }
            let hex = String(hash, radix: 16)
            return line + " #" + String(repeating: "0", count: 16 - hex.count) + hex
        }
    }

    let book: ShadowBook
    private var inFlight = 0

    init(book: ShadowBook) {
        self.book = book
    }

    /// Takes a place for one capture and its copies: captures in progress count against
    /// `max_in_flight` too, so what they hold (up to twice `max_body` each) stays bounded. False:
    /// shed (counted).
    func reserve(_ settings: ShadowSettings, route: String) -> Bool {
        guard inFlight < settings.maxInFlight else {
            book.recordShed(route: route)
            return false
        }
        inFlight += 1
        return true
    }

    /// Gives back a place taken by `reserve` whose capture was dropped before any copy went out.
    func release() {
        inFlight -= 1
    }

    /// Starts the copies of one finished exchange on `route` (its place reserved); `primary` served the client.
    func mirror(_ capture: Capture, status: Int, route: LoopRoute, primary: UpstreamPool?, now: UInt64) {
        guard let settings = route.definition.shadow else { return release() }
        let name = route.definition.name
        guard !capture.responseTooLong else {
            book.recordShed(route: name)
            return release()
        }
        guard (200..<300).contains(status), let stable = JSONValue.parse(capture.responseBody) else {
            // Only answers the comparison can read are compared; the rest say nothing of the shadow.
            return release()
        }
        let digest = capture.digest
        let shadowVersion = route.versions[settings.versionIndex]
        let stableVersion = route.versions[route.definition.stableIndex]
        var results: [ShadowExchange.Result?] = Array(repeating: nil, count: settings.noise)
        var remaining = settings.noise
        let done: (Int, ShadowExchange.Result) -> Void = { [self] index, result in
            results[index] = result
            remaining -= 1
            guard remaining == 0 else { return }
            inFlight -= 1
            compare(stable: stable, results: results, settings: settings, route: name, digest: digest)
        }
        let targets = [shadowVersion.nextUpstream(at: now)]
            + (settings.noise == 2 ? [stableVersion.nextUpstream(at: now, avoiding: primary)] : [])
        for (index, pool) in targets.enumerated() {
            ShadowExchange(maxBody: settings.maxBody) { done(index, $0) }
                .start(pool: pool, parts: Self.marked(capture.parts, as: index == 0 ? "shadow" : "noise"), timeout: route.timeout)
        }
    }

    private func compare(
        stable: JSONValue, results: [ShadowExchange.Result?], settings: ShadowSettings, route: String, digest: String
    ) {
        // A copy that failed or could not be read did not give the stable's answer: a disagreement
        // (else a candidate could dodge the judge by failing on the inputs it gets wrong), and an error.
        func outcome(_ result: ShadowExchange.Result?) -> (OutputComparator.Outcome, JSONValue?, error: Bool) {
            switch result {
            case .answered(let status, let body)?:
                guard (200..<300).contains(status) else { return (.init(agree: false, detail: "answered \(status)"), nil, true) }
                guard let document = JSONValue.parse(body) else {
                    return (.init(agree: false, detail: "answer is not JSON"), nil, true)
                }
                guard let compared = settings.compare.compare(stable: stable, other: document) else {
                    return (.init(agree: false, detail: "nothing to compare at \(settings.compare.path?.description ?? "$")"), document, true)
                }
                return (compared, document, false)
            case .failed(let reason)?: return (.init(agree: false, detail: reason), nil, true)
            case nil: return (.init(agree: false, detail: "no answer"), nil, true)
            }
        }
        var (candidate, shadow, failed) = outcome(results[0])
        var noise = results.count > 1 ? outcome(results[1]).0 : nil
        if failed { book.recordError(route: route) }
        let hidden = settings.pathIsRedacted
        if hidden {
            // What the comparison reads is secret: no classes in the flip matrix, no values in details.
            candidate.labels = nil
            noise?.labels = nil
        }
        var pair: ShadowBook.Disagreement?
        if !candidate.agree {
            let stableShown = Self.redacted(stable, settings.redact)
            let shadowShown = shadow.map { Self.redacted($0, settings.redact) }
            var detail = candidate.detail
            if hidden {
                detail = "[redacted]"
            } else if settings.compare.kind == .json, let shadowShown {
                // Paths inside redacted values are not shown either.
                var paths: [String] = []
                OutputComparator.diff(stableShown, shadowShown, at: "", ignore: settings.compare.ignore, into: &paths)
                detail = paths.prefix(5).joined(separator: ", ")
            }
            pair = ShadowBook.Disagreement(
                at: Self.unixMillis(), request: OutputComparator.shown(digest, limit: 200), stable: stableShown.text(),
                shadow: shadowShown?.text() ?? "(\(OutputComparator.shown(candidate.detail, limit: 200)))",
                detail: OutputComparator.shown(detail, limit: 200))
        }
        book.record(route: route, candidate: candidate, noise: noise, pair: pair)
    }

    /// The copy's parts with `x-weir-shadow: shadow|noise` on its head, so an upstream (and its logs)
    /// can tell a copy from a request a client waits for.
    static func marked(_ parts: [HTTPClientRequestPart], as role: String) -> [HTTPClientRequestPart] {
        guard case .head(var head)? = parts.first else { return parts }
        head.headers.replaceOrAdd(name: "x-weir-shadow", value: role)
        return [.head(head)] + parts.dropFirst()
    }

    static func unixMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// The document with every value under a `redact` key (in any case) replaced by `"[redacted]"`.
    static func redacted(_ value: JSONValue, _ keys: Set<String>) -> JSONValue {
        guard !keys.isEmpty else { return value }
        switch value {
        case .object(let members):
            return .object(
                members.map { ($0.0, keys.contains($0.0.lowercased()) ? .string("[redacted]") : redacted($0.1, keys)) })
        case .array(let values): return .array(values.map { redacted($0, keys) })
        default: return value
        }
    }
}

@available(*, unavailable)
extension ShadowMirror: Sendable {}
