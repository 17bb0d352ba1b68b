import Foundation
import Testing
import WeirDemo
import WeirTesting

/// CONTRACT §8 "Admin API" and "TLS", tried as a web page on the operator's machine, a DNS-rebinding
/// site, a client on the network and a scanner offering old TLS would.
extension IntegrationTests {
    @Suite struct AdminSecurityTests {
        static func routes(_ servers: [DemoModelServer]) -> String {
            """
            routes:
              - name: fraud
                match: { path_prefix: / }
                versions:
                  v1: { upstreams: ["\(servers[0].url)"] }
                  v2: { upstreams: ["\(servers[1].url)"] }
                stable: v1
                canary: v2
                policy: { steps: [5, 50], interval: 60s }
            """
        }

        static func canaryWeight(_ weir: WeirProcess) async throws -> Double? {
            let route = try await weir.admin("GET", "/v1/routes/fraud").json
            return (route["weights"] as? [String: Double])?["v2"]
        }

        @Test func crossSiteAndUndeclaredRequestsChangeNothing() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                // No token: the loopback default, where a web page is the attacker.
                try await withWeir(routes: Self.routes(servers)) { weir in
                    let body = "{\"canary\":100}"
                    let attempts: [(name: String, contentType: String?, headers: [(String, String)], status: Int)] = [
                        ("text/plain simple request", "text/plain", [], 415),
                        ("form post", "application/x-www-form-urlencoded", [], 415),
                        ("no content type", nil, [], 415),
                        ("foreign Origin", "application/json", [("origin", "http://evil.example")], 403),
                        ("Origin null", "application/json", [("origin", "null")], 403),
                        ("same host, other port", "application/json", [("origin", "http://127.0.0.1:1")], 403),
                        ("https Origin to an http listener", "application/json",
                         [("origin", "https://127.0.0.1:\(weir.adminPort)")], 403),
                        ("DNS rebinding Host", "application/json", [("host", "evil.example:\(weir.adminPort)")], 403),
                        ("cross-site fetch", "application/json", [("sec-fetch-site", "cross-site")], 403),
                        ("two content types", nil, [("content-type", "application/json;a"), ("content-type", "text/plain")], 415),
                        ("junk after the host", "application/json", [("host", "localhost:evil.example")], 403),
                        ("a second Host", "application/json",
                         [("host", "127.0.0.1:\(weir.adminPort)"), ("host", "evil.example")], 403),
                    ]
                    for attempt in attempts {
                        let answer = try await weir.admin(
                            "POST", "/v1/routes/fraud/weight", body: body, contentType: attempt.contentType,
                            headers: attempt.headers)
                        #expect(answer.status == attempt.status, "\(attempt.name): \(answer.status) \(answer.json)")
                        #expect(try await Self.canaryWeight(weir) == 5, "\(attempt.name) moved the canary")
                    }
                    // A rebinding page cannot read either.
                    let read = try await weir.admin("GET", "/v1/routes", headers: [("host", "evil.example")])
                    #expect(read.status == 403)
                    // The operator's own requests pass: same origin, JSON.
                    let own = try await weir.admin(
                        "POST", "/v1/routes/fraud/weight", body: "{\"canary\":10}",
                        headers: [("origin", "http://127.0.0.1:\(weir.adminPort)")])
                    #expect(own.status == 200)
                    #expect(try await Self.canaryWeight(weir) == 10)
                    let ctl = try weir.weirctl(["pause", "fraud"])
                    #expect(ctl.status == 1, "already paused by set-weight: \(ctl.stdout) \(ctl.stderr)")
                    #expect(ctl.stderr.contains("already paused"))
                }
            }
        }

        @Test func aReadTokenGuardsReadsAndTokenFilesMustBePrivate() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-read-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let readToken = directory.appendingPathComponent("read.token").path
                let made = try ChildProcess.run(product: "weir", arguments: ["token", "-o", readToken])
                #expect(made.status == 0)
                let mode = try FileManager.default.attributesOfItem(atPath: readToken)[.posixPermissions] as? Int
                #expect(mode == 0o600)
                let read = try String(contentsOfFile: readToken, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(read.count == 64)

                try await withWeir(routes: Self.routes(servers), token: "admin-tok", admin: "read_token_file: \(readToken)") {
                    (weir: WeirProcess) async throws in
                    #expect(try await weir.admin("GET", "/v1/routes").status == 401)
                    #expect(try await TestHTTPClient.request(port: weir.adminPort, path: "/metrics").status == 401)
                    #expect(try await weir.admin("GET", "/v1/routes", token: read).status == 200)
                    #expect(try await weir.admin("GET", "/v1/routes", token: "admin-tok").status == 200)
                    // The scheme is case-insensitive.
                    #expect(try await weir.admin("GET", "/v1/routes", headers: [("authorization", "bearer admin-tok")]).status == 200)
                    #expect(try await weir.admin("GET", "/healthz").status == 200)
                    #expect(try await weir.admin("GET", "/readyz").status == 200)
                    // The read token changes nothing.
                    #expect(try await weir.admin("POST", "/v1/routes/fraud/pause", token: read).status == 401)
                    #expect(try await weir.admin("POST", "/v1/routes/fraud/pause", token: "admin-tok").status == 200)
                }

                // A token file others can read is refused at start-up, with the fix in the message.
                let weir = try await WeirProcess(routes: Self.routes(servers), token: "admin-tok", startNow: false)
                try FileManager.default.setAttributes(
                    [.posixPermissions: 0o644], ofItemAtPath: weir.directory.appendingPathComponent("admin.token").path)
                let child = try ChildProcess(product: "weir", arguments: ["serve", "-c", weir.configPath])
                let status = await child.waitForExit(limit: .seconds(10))
                #expect(status == 2)
                #expect(child.standardErrorText().contains("chmod 600"))
                try? FileManager.default.removeItem(at: weir.directory)
            }
        }

        /// `openssl s_client` against a listener: whether the handshake completed.
        static func handshakes(port: Int, _ options: [String]) throws -> Bool {
            let result = try ChildProcess.run(command: [
                "sh", "-c",
                "echo | openssl s_client -connect 127.0.0.1:\(port) -servername localhost \(options.joined(separator: " ")) 2>&1",
            ])
            return result.stdout.contains("BEGIN CERTIFICATE") || result.stdout.contains("Cipher is ECDHE")
                || result.stdout.contains("Cipher is TLS_")
        }

        /// Old versions and weak suites, offered by a client told to allow them (security level 0),
        /// so a refusal is the server's.
        static let weakOffers: [[String]] = [
            ["-tls1", "-cipher", "'DEFAULT:@SECLEVEL=0'"],
            ["-tls1_1", "-cipher", "'DEFAULT:@SECLEVEL=0'"],
            ["-tls1_2", "-cipher", "'AES128-SHA:@SECLEVEL=0'"],
            ["-tls1_2", "-cipher", "'ECDHE-RSA-AES128-SHA:@SECLEVEL=0'"],
        ]

        @Test func theWeakOffersHandshakeWhereAnOperatorAllowsThem() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let tls =
                    "tls: { cert: \(certificates.serverCertificate), key: \(certificates.serverKey), min_version: \"1.0\", ciphers: \"AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256\" }"
                try await withWeir(routes: Self.routes(servers), server: tls) { weir in
                    // The control for the test below: the same probes succeed against a weak listener.
                    for weak in Self.weakOffers {
                        let accepted = try Self.handshakes(port: weir.port, weak)
                        #expect(accepted, "\(weak)")
                    }
                }
            }
        }

        @Test func tlsListenersRefuseOldVersionsAndWeakSuitesAndWeirctlSpeaksHTTPS() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let tls = "tls: { cert: \(certificates.serverCertificate), key: \(certificates.serverKey) }"
                try await withWeir(routes: Self.routes(servers), token: "tok", server: tls, admin: tls) { weir in
                    for port in [weir.port, weir.adminPort] {
                        let modern = try Self.handshakes(port: port, ["-tls1_2"]) && Self.handshakes(port: port, ["-tls1_3"])
                        #expect(modern)
                        for weak in Self.weakOffers {
                            let accepted = try Self.handshakes(port: port, weak)
                            #expect(!accepted, "\(weak) on port \(port)")
                        }
                    }
                    // weirctl over HTTPS: trusting the test CA it works; without it, it cannot connect.
                    let url = "https://localhost:\(weir.adminPort)"
                    let tokenFile = weir.directory.appendingPathComponent("admin.token").path
                    let trusted = try ChildProcess.run(
                        product: "weirctl",
                        arguments: ["status", "--admin", url, "--ca-file", certificates.caFile, "--token-file", tokenFile])
                    #expect(trusted.status == 0, "\(trusted.stderr)")
                    #expect(trusted.stdout.contains("fraud"))
                    let untrusted = try ChildProcess.run(
                        product: "weirctl", arguments: ["status", "--admin", url, "--token-file", tokenFile])
                    #expect(untrusted.status == 3)
                    let paused = try ChildProcess.run(
                        product: "weirctl",
                        arguments: ["pause", "fraud", "--admin", url, "--ca-file", certificates.caFile, "--token-file", tokenFile])
                    #expect(paused.status == 0, "\(paused.stderr)")
                }
            }
        }

        @Test func anUpstreamThatOnlySpeaksOldTLSIsRefusedUnlessTheRouteAllowsIt() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            let port = try await FreePort.find()
            let server = try ChildProcess(command: [
                "openssl", "s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificates.serverCertificate, "-key",
                certificates.serverKey, "-tls1_1", "-cipher", "AES128-SHA:@SECLEVEL=0", "-www", "-quiet",
            ])
            defer { server.signal(SIGKILL) }
            do {
                try await waitUntilListening(port: port)
            } catch {
                server.signal(SIGKILL)
                throw TestToolError(message: "openssl s_server did not start: \(server.standardErrorText())")
            }
            for (extra, expected) in [
                ("", 502), ("    upstream_tls: { min_version: \"1.0\", ciphers: \"AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256\" }", 200),
            ] {
                let routes = """
                    routes:
                      - name: old
                        match: { path_prefix: / }
                        versions: { v1: { upstreams: ["https://localhost:\(port)"] } }
                        stable: v1
                        upstream_ca: \(certificates.caFile)
                    \(extra)
                    """
                try await withWeir(routes: routes) { weir in
                    let response = try await TestHTTPClient.request(port: weir.port, path: "/")
                    #expect(response.status == expected, "upstream_tls '\(extra)': \(response.status)")
                }
            }
        }

        @Test func checkWarnsAboutWeakTLS() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weir-check-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = directory.appendingPathComponent("weir.yaml").path
            try """
            server: { listen: "127.0.0.1:8443", tls: { cert: a.pem, key: a.key, min_version: "1.0", ciphers: "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256" } }
            routes:
              - { name: r, match: { path_prefix: / }, versions: { v1: { upstreams: ["http://127.0.0.1:9"] } }, stable: v1 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let result = try ChildProcess.run(product: "weir", arguments: ["check", "-c", config])
            #expect(result.status == 0)
            #expect(result.stdout.contains("ok: 1 route"))
            #expect(result.stderr.contains("warning: server.tls: min_version 1.0"))
            #expect(result.stderr.contains("cipher AES128-SHA"))
            #expect(!result.stderr.contains("ECDHE-RSA-AES128-GCM-SHA256 is not"))
        }
    }
}
