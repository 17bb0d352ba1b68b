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
public final class AccessLog: Sendable {
    public init() {}

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
        // One write(2) per line: lines from different event loops do not interleave (a pipe write of
        // up to PIPE_BUF bytes is atomic), and nothing waits in a buffer when weir stops.
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
