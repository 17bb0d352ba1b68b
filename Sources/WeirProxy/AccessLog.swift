import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
    private let systemWrite = Glibc.write
#elseif canImport(Darwin)
    import Darwin
    private let systemWrite = Darwin.write
#endif

/// `server.access_log`: one line per request on standard output, in the combined log format that
/// log tools already parse, followed by weir's own fields:
///
///     127.0.0.1 - - [26/Nov/2026:23:10:00 +0000] "POST /v2/models/fraud/infer HTTP/1.1" 200 57 "-" "curl/8.5"
///     route=fraud version=v2 ttfb_ms=1.21 total_ms=1.52 error=-
///
/// (one line). Off by default: when off, the request path pays one nil check.
///
/// The event loop only formats the line and queues it; one background writer does the `write(2)`s,
/// so a slow or blocked standard output never stalls the data plane. The queue is bounded
/// (`capacity` lines): under pressure lines are dropped, counted, and the next
/// write says how many were lost — Envoy's access-log flusher does the same.
public final class AccessLog: Sendable {
    private let queue = Mutex<(lines: [String], draining: Bool, dropped: Int)>(([], false, 0))
    private let writer = DispatchQueue(label: "weir.access-log")
    private let capacity: Int

    public init(capacity: Int = 8192) {
        self.capacity = capacity
    }

    /// Waits until every line queued so far is written (at shutdown).
    public func flush() {
        writer.sync {}
    }

    /// What one finished request looked like.
    struct Entry {
        var client: String?
        var method: String
        var uri: String
        var httpVersion: String
        /// nil when no status reached the client (the client left, or the response was cut).
        var status: Int?
        var bytes: Int
        var userAgent: String?
        var route: String?
        var version: String?
        var firstByteNanos: UInt64?
        var totalNanos: UInt64
        var error: String?
    }

    func write(_ entry: Entry) {
        var line = entry.client ?? "-"
        line.reserveCapacity(256)
        line += " - - ["
        line += Self.timestamp()
        line += "] \""
        line += entry.method
        line += " "
        line += Self.escaped(entry.uri)
        line += " "
        line += entry.httpVersion
        line += "\" "
        line += entry.status.map { String($0) } ?? "-"
        line += " "
        line += String(entry.bytes)
        line += " \"-\" \""
        line += Self.escaped(entry.userAgent ?? "-")
        line += "\" route="
        line += entry.route ?? "-"
        line += " version="
        line += entry.version ?? "-"
        line += " ttfb_ms="
        line += entry.firstByteNanos.map(Self.milliseconds) ?? "-"
        line += " total_ms="
        line += Self.milliseconds(entry.totalNanos)
        line += " error="
        line += entry.error ?? "-"
        line += "\n"
        enqueue(line)
    }

    private func enqueue(_ line: String) {
        let startWriter = queue.withLock { state -> Bool in
            guard state.lines.count < capacity else {
                state.dropped += 1
                return false
            }
            state.lines.append(line)
            let startWriter = !state.draining
            state.draining = true
            return startWriter
        }
        if startWriter { writer.async { self.drain() } }
    }

    /// Writes queued lines until the queue is empty. The queue and the batch swap buffers, so
    /// neither side copies or reallocates the array per batch.
    private func drain() {
        var batch: [String] = []
        while true {
            let dropped = queue.withLock { state -> Int in
                swap(&batch, &state.lines)
                defer { state.dropped = 0 }
                if batch.isEmpty && state.dropped == 0 { state.draining = false }
                return state.dropped
            }
            if batch.isEmpty && dropped == 0 { return }
            if dropped > 0 {
                Self.writeOut("# weir: \(dropped) access-log lines dropped (standard output too slow)\n")
            }
            if !batch.isEmpty { Self.writeOut(batch.joined()) }
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// One write(2) per batch of whole lines, so lines never interleave with another writer's.
    private static func writeOut(_ text: String) {
        var line = text
        var remaining = line.utf8.count
        line.withUTF8 { bytes in
            var offset = 0
            while remaining > 0 {
                let written = systemWrite(STDOUT_FILENO, bytes.baseAddress! + offset, remaining)
                if written <= 0 { break }
                offset += written
                remaining -= written
            }
        }
    }

    private static func milliseconds(_ nanos: UInt64) -> String {
        let hundredths = (nanos + 5_000) / 10_000
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }

    /// Quotes and control characters would break the line's fields.
    private static func escaped(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x22 || $0 < 0x20 || $0 == 0x7f || $0 == 0x5c }) else { return text }
        var out = ""
        for byte in text.utf8 {
            if byte == 0x22 || byte < 0x20 || byte == 0x7f || byte == 0x5c {
                let hex = String(byte, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }

    /// `26/Nov/2026:23:10:00 +0000` (UTC).
    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%d/%b/%Y:%H:%M:%S +0000", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
