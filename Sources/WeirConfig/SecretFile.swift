import Foundation

/// Reads a file holding a secret (the admin tokens, an override secret) the way ssh reads a
/// private key: a file that group or others may read is refused, because a secret anyone on the
/// machine can read protects nothing. Surrounding whitespace is trimmed; an empty file is refused.
public enum SecretFile {
    /// Why a secret file cannot be used, with the fix.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The trimmed contents of `path`, or why it is refused.
    public static func read(_ path: String) throws(Refusal) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Refusal(path: path, reason: "cannot read it (\(String(cString: strerror(errno))))")
        }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw Refusal(
                path: path,
                reason:
                    "is readable by group or others (mode \(String(mode, radix: 8))); a secret must be private: chmod 600 \(path)"
            )
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw Refusal(path: path, reason: "cannot read it as UTF-8 text")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw Refusal(path: path, reason: "is empty") }
        return trimmed
    }
}
