import Foundation
import Testing
import WeirConfig
import WeirCore

@Suite struct ConfigLoaderTests {
    static let contractExample = """
        server:
          listen: "0.0.0.0:8080"
        admin:
          listen: "127.0.0.1:9901"
          token_file: admin.token
        state:
          sqlite: weir-state.sqlite
        routes:
          - name: fraud
            match: { path_prefix: /v1/models/fraud }
            timeout: 10s
            versions:
              v1:
                upstreams: ["http://127.0.0.1:9001", "http://127.0.0.1:9011"]
                metadata: { training_data_hash: "9f2c", owner: risk-team }
              v2:
                upstreams: ["http://127.0.0.1:9002"]
            stable: v1
            canary: v2
            sticky: { header: x-user-id }
            override: { trusted: ["10.0.0.0/8"], secret_header: x-pin-secret }
            policy:
              steps: [5, 10, 25, {weight: 50, pause: true}]
              interval: 30s
              warmup: 10s
              min_requests: 100
              failure_limit: 2
              promote: auto
              errors: [5xx, connect, timeout, reset]
              checks:
                - { metric: error_rate, max_increase: 0.02 }
                - { metric: latency_p99, max: 120ms }
                - { metric: latency_p99, max_ratio: 1.5 }
              webhooks:
                - { on: [rollback, promote], url: "http://127.0.0.1:9100/hook" }
        """

    @Test func loadsTheContractExample() throws {
        let config = try ConfigLoader.parse(yaml: Self.contractExample, file: "weir.yaml")
        #expect(config.server.listen == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(config.admin.tokenFile == "admin.token")
        #expect(config.state == .sqlite(path: "weir-state.sqlite"))
        let route = try #require(config.routes.first)
        #expect(route.name == "fraud")
        #expect(route.match.pathPrefix == "/v1/models/fraud")
        #expect(route.timeout == .seconds(10))
        #expect(route.versions.map(\.name) == ["v1", "v2"])
        #expect(route.versions[0].upstreams.count == 2)
        #expect(route.versions[0].metadata["owner"] == "risk-team")
        #expect(route.stableIndex == 0 && route.canaryIndex == 1)
        #expect(route.sticky == .header("x-user-id"))
        #expect(route.policy.steps.map(\.weight) == [5, 10, 25, 50])
        #expect(route.policy.steps.map(\.pause) == [false, false, false, true])
        #expect(route.policy.interval == .seconds(30) && route.policy.warmup == .seconds(10))
        #expect(route.policy.errors == [.http5xx, .connect, .timeout, .reset])
        #expect(
            route.policy.checks == [
                Check(metric: .errorRate, bound: .maxIncrease(0.02)),
                Check(metric: .latency(percentile: 99), bound: .max(0.12)),
                Check(metric: .latency(percentile: 99), bound: .maxRatio(1.5)),
            ])
        #expect(route.policy.webhooks == [Webhook(on: [.rollback, .promote], url: "http://127.0.0.1:9100/hook")])
        #expect(route.override?.header == "x-weir-version")
        #expect(route.override?.secretHeader == "x-pin-secret")
        #expect(route.override?.trusted.map(\.description) == ["10.0.0.0/8"])
        #expect(route.override?.allowInactive == false)
        #expect(route.pinHeaders == ["x-weir-version", "x-weir-override-secret", "x-pin-secret"])
    }

    @Test func appliesDefaultsForOptionalSections() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                routes:
                  - name: a
                    match: { host: models.example.com, header: { x-tenant: acme } }
                    versions: { v1: { upstreams: ["http://127.0.0.1:1"] } }
                    stable: v1
                """,
            file: "w.yaml"
        )
        #expect(config.server.listen.port == 8080)
        #expect(config.admin.listen == ListenAddress(host: "127.0.0.1", port: 9901))
        // Pinning is off unless the route says who may pin.
        #expect(config.routes[0].override == nil)
        #expect(config.routes[0].pinHeaders == ["x-weir-version", "x-weir-override-secret"])
        #expect(config.server.tls == nil)
        #expect(config.admin.allowedHosts.isEmpty)
        #expect(config.routes[0].timeout == .seconds(30))
        #expect(config.routes[0].match.header == RouteMatch.HeaderCondition(name: "x-tenant", value: "acme"))
        #expect(config.routes[0].policy.steps.map(\.weight) == [5, 10, 25, 50])
    }

    /// One broken line in the contract example, and the error it must produce.
    struct BadCase: CustomTestStringConvertible, Sendable {
        var name: String
        var replace: String
        var with: String
        var line: Int
        var path: String
        var says: String
        var testDescription: String { name }
    }

    static let badCases: [BadCase] = [
        BadCase(
            name: "unknown top-level key", replace: "state:\n", with: "stat:\n", line: 6, path: "stat",
            says: "unknown key"),
        BadCase(
            name: "unknown route key", replace: "    timeout: 10s", with: "    timout: 10s", line: 11,
            path: "routes[0].timout", says: "unknown key 'timout'"),
        BadCase(
            name: "bad duration", replace: "timeout: 10s", with: "timeout: ten", line: 11, path: "routes[0].timeout",
            says: "duration"),
        BadCase(
            name: "duration without unit", replace: "interval: 30s", with: "interval: 30", line: 24,
            path: "routes[0].policy.interval", says: "duration"),
        BadCase(
            name: "unknown stable version", replace: "stable: v1", with: "stable: v9", line: 18,
            path: "routes[0].stable", says: "unknown version 'v9'"),
        BadCase(
            name: "unknown canary version", replace: "canary: v2", with: "canary: v3", line: 19,
            path: "routes[0].canary", says: "unknown version 'v3'"),
        BadCase(
            name: "canary equals stable", replace: "canary: v2", with: "canary: v1", line: 19, path: "routes[0].canary",
            says: "must differ"),
        BadCase(
            name: "weight above 100", replace: "steps: [5, 10, 25,", with: "steps: [5, 10, 250,", line: 23,
            path: "routes[0].policy.steps[2]", says: "at most 100"),
        BadCase(
            name: "non-increasing steps", replace: "steps: [5, 10, 25,", with: "steps: [5, 10, 8,", line: 23,
            path: "routes[0].policy.steps[2]", says: "must increase"),
        BadCase(
            name: "zero weight", replace: "steps: [5,", with: "steps: [0,", line: 23, path: "routes[0].policy.steps[0]",
            says: "above 0"),
        BadCase(
            name: "bad upstream URL", replace: "\"http://127.0.0.1:9002\"", with: "\"127.0.0.1:9002\"", line: 17,
            path: "routes[0].versions.v2.upstreams[0]", says: "expected a URL"),
        BadCase(
            name: "bad route name", replace: "name: fraud", with: "name: Fraud_Route", line: 9, path: "routes[0].name",
            says: "[a-z0-9-]+"),
        BadCase(
            name: "wrong type for min_requests", replace: "min_requests: 100", with: "min_requests: lots", line: 26,
            path: "routes[0].policy.min_requests", says: "whole number"),
        BadCase(
            name: "unknown error kind", replace: "errors: [5xx,", with: "errors: [6xx,", line: 29,
            path: "routes[0].policy.errors[0]", says: "unknown error kind '6xx'"),
        BadCase(
            name: "unknown metric", replace: "metric: error_rate,", with: "metric: error_ratio,", line: 31,
            path: "routes[0].policy.checks[0].metric", says: "unknown metric"),
        BadCase(
            name: "two bounds in a check", replace: "max: 120ms }", with: "max: 120ms, max_ratio: 2 }", line: 32,
            path: "routes[0].policy.checks[1]", says: "exactly one of"),
        BadCase(
            name: "latency bound not a duration", replace: "max: 120ms }", with: "max: fast }", line: 32,
            path: "routes[0].policy.checks[1].max", says: "duration"),
        BadCase(
            name: "bad promote mode", replace: "promote: auto", with: "promote: sometimes", line: 28,
            path: "routes[0].policy.promote", says: "'auto' or 'manual'"),
        BadCase(
            name: "unknown webhook event", replace: "on: [rollback, promote]", with: "on: [rollback, explode]",
            line: 35, path: "routes[0].policy.webhooks[0].on[1]", says: "unknown event"),
        BadCase(
            name: "bad listen address", replace: "listen: \"0.0.0.0:8080\"", with: "listen: \"everywhere\"", line: 2,
            path: "server.listen", says: "host:port"),
        BadCase(
            name: "sticky with both sources", replace: "sticky: { header: x-user-id }",
            with: "sticky: { header: x-user-id, cookie: sid }", line: 20, path: "routes[0].sticky", says: "exactly one"),
        BadCase(
            name: "missing versions",
            replace:
                "    versions:\n      v1:\n        upstreams: [\"http://127.0.0.1:9001\", \"http://127.0.0.1:9011\"]\n        metadata: { training_data_hash: \"9f2c\", owner: risk-team }\n      v2:\n        upstreams: [\"http://127.0.0.1:9002\"]\n",
            with: "", line: 9, path: "routes[0].versions", says: "missing"),
        BadCase(
            name: "admin beyond loopback without token",
            replace: "  listen: \"127.0.0.1:9901\"\n  token_file: admin.token\n", with: "  listen: \"0.0.0.0:9901\"\n",
            line: 4, path: "admin.listen", says: "token"),
        BadCase(
            name: "tls without a key", replace: "listen: \"0.0.0.0:8080\"",
            with: "listen: \"0.0.0.0:8080\"\n  tls: { cert: server.pem }", line: 3, path: "server.tls.key",
            says: "missing"),
        BadCase(
            name: "tls and h2c together", replace: "listen: \"0.0.0.0:8080\"",
            with: "listen: \"0.0.0.0:8080\"\n  tls: { cert: a.pem, key: a.key }\n  h2c: true", line: 4,
            path: "server.h2c", says: "ALPN"),
        BadCase(
            name: "unknown tls key", replace: "listen: \"0.0.0.0:8080\"",
            with: "listen: \"0.0.0.0:8080\"\n  tls: { cert: a.pem, key: a.key, ca: b.pem }", line: 3,
            path: "server.tls.ca", says: "unknown key"),
        BadCase(
            name: "the old override_header key", replace: "override: { trusted: [\"10.0.0.0/8\"], secret_header: x-pin-secret }",
            with: "override_header: x-weir-version", line: 21, path: "routes[0].override_header", says: "trusted"),
        BadCase(
            name: "an override nobody may use", replace: "override: { trusted: [\"10.0.0.0/8\"], secret_header: x-pin-secret }",
            with: "override: { header: x-pin }", line: 21, path: "routes[0].override", says: "names nobody"),
        BadCase(
            name: "an override with a bad block", replace: "override: { trusted: [\"10.0.0.0/8\"]",
            with: "override: { trusted: [\"10.0.0.0/33\"]", line: 21, path: "routes[0].override.trusted[0]",
            says: "address block"),
        BadCase(
            name: "tls min_version unknown", replace: "listen: \"0.0.0.0:8080\"",
            with: "listen: \"0.0.0.0:8080\"\n  tls: { cert: a.pem, key: a.key, min_version: \"1.4\" }", line: 3,
            path: "server.tls.min_version", says: "1.2"),
        BadCase(
            name: "tls ciphers not an OpenSSL list", replace: "listen: \"0.0.0.0:8080\"",
            with: "listen: \"0.0.0.0:8080\"\n  tls: { cert: a.pem, key: a.key, ciphers: \"AES128, AES256\" }", line: 3,
            path: "server.tls.ciphers", says: "separated by ':'"),
        BadCase(
            name: "tls ciphers with an OpenSSL keyword BoringSSL cannot read", replace: "listen: \"0.0.0.0:8080\"",
            with: "listen: \"0.0.0.0:8080\"\n  tls: { cert: a.pem, key: a.key, ciphers: \"DEFAULT:@SECLEVEL=0\" }", line: 3,
            path: "server.tls.ciphers", says: "'DEFAULT' is not one"),
        BadCase(
            name: "read token without admin token",
            replace: "  token_file: admin.token\n", with: "  read_token_file: read.token\n",
            line: 5, path: "admin.read_token_file", says: "admin token"),
        BadCase(
            name: "allowed host with a port",
            replace: "  token_file: admin.token\n", with: "  token_file: admin.token\n  allowed_hosts: [\"weir.internal:9901\"]\n",
            line: 6, path: "admin.allowed_hosts[0]", says: "without port"),
        BadCase(
            name: "webhook URL not http(s)", replace: "url: \"http://127.0.0.1:9100/hook\"",
            with: "url: \"ftp://127.0.0.1/hook\"", line: 35, path: "routes[0].policy.webhooks[0].url", says: "https://"),
        BadCase(
            name: "warmup not shorter than interval", replace: "warmup: 10s", with: "warmup: 45s", line: 25,
            path: "routes[0].policy.warmup", says: "shorter than the interval"),
    ]

    @Test func readsTLSAndHTTP2SettingsWithFilesRelativeToTheConfig() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("weir.yaml")
        try """
        server:
          listen: "127.0.0.1:8443"
          tls: { cert: certs/server.pem, key: /etc/weir/server.key, client_ca: ca.pem }
          access_log: true
        routes:
          - name: grpc
            match: { path_prefix: /inference.GRPCInferenceService/ }
            upstream_ca: upstream-ca.pem
            versions:
              v1: { upstreams: ["h2c://127.0.0.1:8001"] }
              v2: { upstreams: ["https://triton.internal:8443"] }
            stable: v1
            canary: v2
            policy: { errors: [grpc, 5xx, connect, timeout, reset] }
        """.write(to: file, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(path: file.path)
        let base = directory.path
        #expect(
            config.server.tls
                == TLSSettings(
                    certificateFile: base + "/certs/server.pem", keyFile: "/etc/weir/server.key",
                    clientCAFile: base + "/ca.pem"))
        #expect(config.server.h2c == false && config.server.accessLog)
        #expect(config.routes[0].upstreamCAFile == base + "/upstream-ca.pem")
        #expect(config.routes[0].versions.map { $0.upstreams[0].scheme } == [.h2c, .https])
        #expect(config.routes[0].policy.errors.contains(.grpc))
    }

    /// The shipped examples stay valid configs.
    @Test func everyExampleConfigLoads() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let examples = root.appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 4)
        for file in files {
            let config = try ConfigLoader.load(path: examples.appendingPathComponent(file).path)
            #expect(!config.routes.isEmpty, "\(file)")
        }
    }

    @Test(arguments: badCases)
    func reportsLineAndKeyPath(of bad: BadCase) throws {
        #expect(Self.contractExample.contains(bad.replace), "test case does not apply")
        let yaml = Self.contractExample.replacingFirst(bad.replace, with: bad.with)
        let error = try #require(throws: ConfigErrors.self) { try ConfigLoader.parse(yaml: yaml, file: "weir.yaml") }
        let match = error.errors.first { $0.path == bad.path }
        #expect(match != nil, "no error at \(bad.path); got \(error.errors)")
        #expect(match?.line == bad.line, "\(String(describing: match))")
        #expect(match?.file == "weir.yaml")
        #expect(match?.message.contains(bad.says) == true, "\(String(describing: match?.message))")
        #expect(match?.description.hasPrefix("weir.yaml:\(bad.line):") == true)
    }

    @Test func reportsEveryErrorNotOnlyTheFirst() throws {
        var yaml = Self.contractExample
        yaml = yaml.replacingFirst("timeout: 10s", with: "timeout: soon")
        yaml = yaml.replacingFirst("stable: v1", with: "stable: v7")
        yaml = yaml.replacingFirst("min_requests: 100", with: "min_requests: -1")
        yaml = yaml.replacingFirst("promote: auto", with: "promote: never")
        let error = try #require(throws: ConfigErrors.self) { try ConfigLoader.parse(yaml: yaml, file: "weir.yaml") }
        #expect(
            Set(error.errors.map(\.path)).isSuperset(of: [
                "routes[0].timeout", "routes[0].stable", "routes[0].policy.min_requests", "routes[0].policy.promote",
            ]))
        #expect(error.errors.map(\.line) == error.errors.map(\.line).sorted())
    }

    @Test func duplicateRouteNamesAreRefused() throws {
        let route = """
              - name: same
                match: { path_prefix: / }
                versions: { v1: { upstreams: ["http://127.0.0.1:1"] } }
                stable: v1
            """
        let error = try #require(throws: ConfigErrors.self) {
            try ConfigLoader.parse(yaml: "routes:\n" + route + "\n" + route + "\n", file: "w.yaml")
        }
        #expect(
            error.errors.contains { $0.path == "routes[1].name" && $0.message.contains("duplicate") && $0.line == 6 })
    }

    @Test func syntaxErrorsNameTheLine() throws {
        let error = try #require(throws: ConfigErrors.self) {
            try ConfigLoader.parse(yaml: "routes:\n  - name: a\n    match: { path_prefix: /\n", file: "w.yaml")
        }
        #expect(error.errors.count == 1)
        #expect(error.errors[0].message.contains("not valid YAML"))
        #expect(error.errors[0].line >= 3)
    }

    @Test func unreadableFileIsAClearError() throws {
        let error = try #require(throws: ConfigErrors.self) { try ConfigLoader.load(path: "/nonexistent/weir.yaml") }
        #expect(error.description.contains("/nonexistent/weir.yaml"))
        #expect(error.description.contains("cannot read"))
    }

    @Test(arguments: [
        ("250ms", 250_000_000), ("30s", 30_000_000_000), ("1.5s", 1_500_000_000), ("5m", 300_000_000_000),
        ("1h", 3_600_000_000_000),
    ])
    func parsesDurations(text: String, nanos: Int64) {
        #expect(DurationText.parse(text) == .nanoseconds(nanos))
        #expect(DurationText.parse(DurationText.format(.nanoseconds(nanos))) == .nanoseconds(nanos))
    }

    @Test(arguments: ["", "30", "s", "-1s", "1.2.3s", "5 minutes", "1d"])
    func refusesBadDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
