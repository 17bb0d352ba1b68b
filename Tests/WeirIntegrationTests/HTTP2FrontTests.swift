import Foundation
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// HTTP/2 and TLS toward clients, checked by the reference peers: curl (nghttp2 inside),
    /// `openssl s_client`, against the real `weir` binary in front of HTTP/1.1 demo models.
    @Suite struct HTTP2FrontTests {
        /// Two versions split 50/50 for as long as a test runs (the first step never ends).
        static func evenSplit(_ stable: String, _ canary: String) -> String {
            routeYAML(versions: [("v1", stable), ("v2", canary)], steps: "[50]")
                + "\n      interval: 1h"
        }

        static func curl(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try ChildProcess.run(command: ["curl", "-s", "--max-time", "30"] + arguments)
        }

        /// Counts `x-weir-version` values in a dump of response headers.
        static func versionCounts(_ headers: String) -> [String: Int] {
            var counts: [String: Int] = [:]
            for line in headers.split(whereSeparator: \.isNewline) where line.lowercased().hasPrefix("x-weir-version:")
            {
                counts[line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces), default: 0] += 1
            }
            return counts
        }

        @Test func h2cWithPriorKnowledgeAndHTTP1ShareOnePort() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                try await withWeir(routes: Self.evenSplit(servers[0].url, servers[1].url), server: "h2c: true") {
                    weir in
                    let url = "http://127.0.0.1:\(weir.port)/v2/models/fraud"
                    let h2 = try Self.curl([
                        "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", "-w", "version=%{http_version}", url,
                    ])
                    #expect(h2.status == 0)
                    #expect(h2.stdout.contains("version=2"))
                    #expect(h2.stdout.hasPrefix("HTTP/2 200"))
                    #expect(h2.stdout.contains("x-weir-route: fraud"))
                    let h1 = try Self.curl(["--http1.1", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url])
                    #expect(h1.stdout == "1.1 200")
                    // nghttp2's load generator: many streams on a few h2c connections.
                    let load = try ChildProcess.run(command: ["h2load", "-n", "400", "-c", "2", "-m", "20", url])
                    #expect(load.stdout.contains("Application protocol: h2c"))
                    #expect(load.stdout.contains("400 succeeded, 0 failed"), "h2load: \(load.stdout)")
                    #expect(load.stdout.contains("status codes: 400 2xx"))
                }
            }
        }

        @Test func streamsOfOneConnectionAreRoutedOneByOneByWeight() async throws {
            // Over TLS: curl 7.88 fails parallel transfers on an h2c prior-knowledge connection
            // ("Error in the HTTP2 framing layer" before it sends the second stream); h2load covers h2c.
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let tls = "tls: { cert: \(certificates.serverCertificate), key: \(certificates.serverKey) }"
                try await withWeir(routes: Self.evenSplit(servers[0].url, servers[1].url), server: tls) { weir in
                    let requests = 400
                    let url = "https://localhost:\(weir.port)/v2/models/fraud"
                    let result = try Self.curl(
                        [
                            "--cacert", certificates.caFile, "--parallel", "--parallel-max", "50", "-D", "-", "-w",
                            "connects=%{num_connects} version=%{http_version}\\n",
                        ] + Array(repeating: ["-o", "/dev/null", url], count: requests).flatMap { $0 })
                    #expect(result.status == 0, "curl: \(result.stderr)")
                    let counts = Self.versionCounts(result.stdout)
                    let canary = counts["v2", default: 0]
                    print("h2 split over \(requests) streams: \(counts)")
                    #expect(counts["v1", default: 0] + canary == requests)
                    // Binomial(400, 0.5): sd = 10; ±4.5 sd.
                    #expect((155...245).contains(canary), "v2 got \(canary) of \(requests)")
                    let lines = result.stdout.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("connects=") }
                    #expect(lines.count == requests && lines.allSatisfy { $0.hasSuffix("version=2") })
                    let connections = lines.compactMap { Int($0.dropFirst(9).prefix { $0.isNumber }) }.reduce(0, +)
                    // curl multiplexes the parallel transfers over very few connections, so each one
                    // carried streams to both versions.
                    #expect(connections <= 2, "curl opened \(connections) connections")
                }
            }
        }

        @Test func largeBodiesStreamBothWaysOverHTTP2() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let routes = routeYAML(versions: [("v1", servers[0].url)], canary: nil, steps: "[50]")
                try await withWeir(routes: routes, server: "h2c: true") { weir in
                    let size = 64 * 1024 * 1024
                    let download = try Self.curl([
                        "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{size_download}",
                        "http://127.0.0.1:\(weir.port)/bytes/\(size)",
                    ])
                    #expect(download.stdout == "2 \(size)")
                    let file = weir.directory.appendingPathComponent("upload.bin")
                    _ = FileManager.default.createFile(atPath: file.path, contents: Data(count: 16 * 1024 * 1024))
                    let upload = try Self.curl([
                        "--http2-prior-knowledge", "--data-binary", "@\(file.path)", "-H",
                        "content-type: application/octet-stream", "http://127.0.0.1:\(weir.port)/count",
                    ])
                    #expect(upload.stdout.contains(String(16 * 1024 * 1024)), "upload answer: \(upload.stdout)")
                }
            }
        }

        @Test func tlsNegotiatesHTTP2OrHTTP1ByALPN() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            try await withDemoServers([DemoModelBehavior(version: "v1"), DemoModelBehavior(version: "v2")]) { servers in
                let tls = "tls: { cert: \(certificates.serverCertificate), key: \(certificates.serverKey) }"
                try await withWeir(routes: Self.evenSplit(servers[0].url, servers[1].url), server: tls) { weir in
                    let handshake = try ChildProcess.run(command: [
                        "sh", "-c",
                        "echo | openssl s_client -alpn h2 -connect 127.0.0.1:\(weir.port) -CAfile \(certificates.caFile)",
                    ])
                    #expect(handshake.stdout.contains("ALPN protocol: h2"))
                    #expect(handshake.stdout.contains("Verify return code: 0 (ok)"))
                    let url = "https://localhost:\(weir.port)/v2/models/fraud"
                    let h2 = try Self.curl([
                        "--cacert", certificates.caFile, "-D", "-", "-o", "/dev/null", "-w", "version=%{http_version}",
                        url,
                    ])
                    #expect(h2.stdout.contains("version=2") && h2.stdout.hasPrefix("HTTP/2 200"))
                    #expect(h2.stdout.contains("x-weir-version: v"))
                    let h1 = try Self.curl([
                        "--http1.1", "--cacert", certificates.caFile, "-o", "/dev/null", "-w",
                        "%{http_version} %{http_code}",
                        url,
                    ])
                    #expect(h1.stdout == "1.1 200")
                    // Cleartext to a TLS port is not served.
                    let cleartext = try Self.curl([
                        "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(weir.port)/",
                    ])
                    #expect(cleartext.stdout != "200")
                }
            }
        }

        @Test func aClientThatNeverStartsItsHandshakeIsClosed() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let routes = routeYAML(versions: [("v1", servers[0].url)], canary: nil, steps: "[50]")
                let tls = "tls: { cert: \(certificates.serverCertificate), key: \(certificates.serverKey) }"
                for server in ["h2c: true, idle_timeout: 1s", "\(tls), idle_timeout: 1s"] {
                    try await withWeir(routes: routes, server: server) { weir in
                        // Connects, then says nothing: no preface, no ClientHello.
                        let silent = try await RawTCPClient.exchange(port: weir.port, send: [], readFor: .seconds(6))
                        #expect(silent.closedByPeer, "\(server): a silent connection stayed open")
                    }
                }
                // An HTTP/2 connection that opens no stream is closed after the idle timeout too.
                try await withWeir(routes: routes, server: "h2c: true, idle_timeout: 1s") { weir in
                    let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
                    let idle = try await RawTCPClient.exchange(port: weir.port, send: preface, readFor: .seconds(6))
                    #expect(idle.closedByPeer, "an idle HTTP/2 connection stayed open")
                }
            }
        }

        @Test func sigtermSendsGoAwayAndLetsOpenStreamsFinish() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let routes = routeYAML(versions: [("v1", servers[0].url)], canary: nil, steps: "[50]")
                try await withWeir(routes: routes, server: "h2c: true") { weir in
                    let slow = try ChildProcess(command: [
                        "curl", "-s", "-v", "--max-time", "20", "--http2-prior-knowledge",
                        "http://127.0.0.1:\(weir.port)/sleep/1500",
                    ])
                    try await Task.sleep(for: .milliseconds(500))
                    let child = try #require(weir.child)
                    child.signal(SIGTERM)
                    #expect(await slow.waitForExit(limit: .seconds(15)) == 0)
                    #expect(slow.standardOutputText().contains("slept_ms"), "the open stream was cut")
                    #expect(slow.standardErrorText().contains("GOAWAY"), "no GOAWAY reached the client")
                    #expect(await child.waitForExit(limit: .seconds(10)) == 0)
                }
            }
        }

        @Test func mutualTLSRefusesAClientWithoutACertificate() async throws {
            let certificates = try TestCertificates.make()
            defer { certificates.remove() }
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let tls =
                    "tls: { cert: \(certificates.serverCertificate), key: \(certificates.serverKey), client_ca: \(certificates.caFile) }"
                let routes = routeYAML(versions: [("v1", servers[0].url)], canary: nil, steps: "[50]")
                try await withWeir(routes: routes, server: tls) { weir in
                    let url = "https://localhost:\(weir.port)/v2/models/fraud"
                    let anonymous = try Self.curl(["--cacert", certificates.caFile, "-o", "/dev/null", url])
                    #expect(anonymous.status != 0, "a client without a certificate was served")
                    let known = try Self.curl([
                        "--cacert", certificates.caFile, "--cert", certificates.clientCertificate, "--key",
                        certificates.clientKey, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url,
                    ])
                    #expect(known.stdout == "2 200")
                }
            }
        }
    }
}
