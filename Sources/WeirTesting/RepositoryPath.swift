import Foundation

/// Files of this repository the tests use (`scripts/…`, `.build/…`), found from this source file's
/// place in the package, so a test runs from any working directory.
public enum RepositoryPath {
    public static func of(_ relative: String) -> String {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        return root.appendingPathComponent(relative).path
    }
}
