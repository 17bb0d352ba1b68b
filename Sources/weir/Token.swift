import ArgumentParser
import Foundation

/// `weir token`: makes a bearer token for `admin.token_file` / `admin.read_token_file` — 32 bytes
/// from the system's secure random source, hex — and writes it to a file only its owner can read,
/// which is what `weir serve` demands of a token file.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate an admin token: print it, or write it to a new file with mode 0600.")

    @Option(name: [.short, .customLong("output")], help: "Write the token to this new file (mode 0600).")
    var output: String?

    @Flag(help: "Replace the file if it exists.")
    var force = false

    func run() throws {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
            .joined()
        guard let output else {
            print(token)
            return
        }
        if FileManager.default.fileExists(atPath: output) {
            guard force else { throw ValidationError("\(output) exists; pass --force to replace it") }
            try FileManager.default.removeItem(atPath: output)
        }
        // Created private from the first byte: never readable by others, not even briefly.
        let descriptor = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw ValidationError("cannot create \(output): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        handle.write(Data((token + "\n").utf8))
        print("wrote a new admin token to \(output) (mode 0600)")
    }
}
