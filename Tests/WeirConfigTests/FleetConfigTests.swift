import Foundation
import Testing
import WeirConfig

/// `state.postgres` (CONTRACT §9): a URL checked when the config loads, the password never in it.
@Suite struct FleetConfigTests {
    static let route = """
        routes:
          - name: fraud
            match: { path_prefix: / }
            versions:
              v1: { upstreams: ["http://127.0.0.1:9001"] }
            stable: v1
        """

    static func parse(state: String) throws(ConfigErrors) -> WeirConfiguration {
        try ConfigLoader.parse(yaml: "state: \(state)\n" + route, file: "weir.yaml")
    }

    static func refusal(state: String) throws -> ConfigError {
        let errors = try #require(throws: ConfigErrors.self) { try Self.parse(state: state) }
        return try #require(errors.errors.first)
    }

    @Test func aFleetURLIsTakenApart() throws {
        let url = try PostgresURL.parse("postgres://weir%2Dapp@db.internal:6543/rollouts?sslmode=verify-full").get()
        #expect(url.user == "weir-app")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.database == "rollouts")
        #expect(url.sslMode == .verifyFull)
        let defaults = try PostgresURL.parse("postgresql://weir@db").get()
        #expect(defaults.port == 5432 && defaults.database == "weir" && defaults.sslMode == .prefer)
        #expect(defaults.display == "postgres://weir@db:5432/weir?sslmode=prefer")
    }

    @Test(arguments: [
        ("postgres://weir:hunter2@db/weir", "password"),
        ("postgres://db/weir", "no user"),
        ("postgres://weir@/weir", "no host"),
        ("postgres://weir@db/weir?sslmode=maybe", "sslmode 'maybe'"),
        ("postgres://weir@db/weir?application_name=x", "unknown URL parameter 'application_name'"),
        ("mysql://weir@db/weir", "not a postgres:// URL"),
        ("postgres://weir:p@ss@db/weir", "password"),
        ("postgres://weir@db:70000/weir", "out of range"),
    ])
    func aBadFleetURLIsAConfigErrorThatSaysWhy(url: String, says: String) throws {
        let error = try Self.refusal(state: "{ postgres: \"\(url)\" }")
        #expect(error.path == "state.postgres")
        #expect(error.line == 1)
        #expect(error.message.contains(says), "\(error.message)")
        // The password itself is never repeated back.
        #expect(!error.message.contains("hunter2"))
    }

    @Test func theInstanceNameAndPasswordFileAreFleetSettings() throws {
        let config = try Self.parse(
            state: "{ postgres: \"postgres://weir@db/weir\", instance: \"weir-0\", password_file: pw }")
        guard case .postgres(let settings) = config.state else {
            Issue.record("not fleet mode: \(config.state)")
            return
        }
        #expect(settings.instance == "weir-0")
        #expect(settings.passwordFile == "pw")
        #expect(try Self.refusal(state: "{ sqlite: s.sqlite, instance: x }").path == "state.instance")
        #expect(try Self.refusal(state: "{ sqlite: s.sqlite, password_file: pw }").path == "state.password_file")
        #expect(
            try Self.refusal(state: "{ postgres: \"postgres://weir@db/weir\", instance: \"a b\" }").path
                == "state.instance")
    }

    @Test func theURLMayComeFromTheEnvironment() throws {
        let config = try Self.parse(state: "{ postgres: $WEIR_POSTGRES_URL }")
        guard case .postgres(let settings) = config.state else {
            Issue.record("not fleet mode")
            return
        }
        let url = try settings.resolvedURL(environment: ["WEIR_POSTGRES_URL": "postgres://weir@db:5433/w"]).get()
        #expect(url.port == 5433 && url.database == "w")
        let unset = settings.resolvedURL(environment: [:])
        #expect(throws: PostgresURL.Problem.self) { try unset.get() }
        let bad = settings.resolvedURL(environment: ["WEIR_POSTGRES_URL": "postgres://weir:pw@db/w"])
        #expect(throws: PostgresURL.Problem.self) { try bad.get() }
        #expect(try Self.refusal(state: "{ postgres: \"$not-a-name\" }").path == "state.postgres")
    }

    @Test func thePasswordIsReadFromAFileOnlyItsOwnerCanRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-pw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("weir.yaml")
        try ("state: { postgres: \"postgres://weir@db/weir\", password_file: pw }\n" + Self.route)
            .write(to: config, atomically: true, encoding: .utf8)
        let password = directory.appendingPathComponent("pw")
        try "s3cret\n".write(to: password, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: password.path)
        let errors = try #require(throws: ConfigErrors.self) { try ConfigLoader.load(path: config.path) }
        #expect(errors.errors.map(\.path) == ["state.password_file"])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: password.path)
        guard case .postgres(let settings) = try ConfigLoader.load(path: config.path).state else {
            Issue.record("not fleet mode")
            return
        }
        #expect(settings.password == "s3cret")
        #expect(settings.passwordFile == password.path)
    }
}
