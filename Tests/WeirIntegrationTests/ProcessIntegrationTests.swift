import Foundation
import Synchronization
import NIOPosix
import Testing
import WeirDemo
import WeirTesting

extension IntegrationTests {
    /// Tests that run the real `weir` binary as a child process.
    @Suite struct ProcessIntegrationTests {
        func temporaryDirectory() throws -> URL {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("weir-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }

        @Test func checkPrintsOkForAValidConfigAndEveryErrorWithExit2() throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let good = directory.appendingPathComponent("good.yaml")
            try routeYAML(versions: [("v1", "http://127.0.0.1:9001"), ("v2", "http://127.0.0.1:9002")]).write(
                to: good, atomically: true, encoding: .utf8)
            let ok = try ChildProcess.run(product: "weir", arguments: ["check", "-c", good.path])
            #expect(ok.status == 0)
            #expect(ok.stdout == "ok: 1 route\n")

            let bad = directory.appendingPathComponent("bad.yaml")
            try routeYAML(versions: [("v1", "http://127.0.0.1:9001"), ("v2", "nowhere")], steps: "[50, 20]")
                .write(to: bad, atomically: true, encoding: .utf8)
            let refused = try ChildProcess.run(product: "weir", arguments: ["check", "-c", bad.path])
            #expect(refused.status == 2)
            #expect(refused.stdout.isEmpty)
            #expect(refused.stderr.contains("\(bad.path):7:"))
            #expect(refused.stderr.contains("routes[0].versions.v2.upstreams[0]"))
            #expect(refused.stderr.contains("routes[0].policy.steps[1]"))
            #expect(refused.stderr.contains("2 errors in"))

            let missing = try ChildProcess.run(
                product: "weir", arguments: ["check", "-c", directory.appendingPathComponent("none.yaml").path])
            #expect(missing.status == 2)
            #expect(missing.stderr.contains("cannot read"))
        }

        @Test func twoHundredMegabyteBodiesStreamThroughWithBoundedMemory() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let process = try await WeirProcess(routes: routeYAML(versions: [("v1", servers[0].url)], canary: nil))
                let weir = try #require(process.child)
                let port = process.port
                let directory = process.directory
                _ = try await TestHTTPClient.request(port: port, path: "/v2/health/ready")
                let baseline = try #require(weir.memoryKilobytes("VmRSS"))

                let size = 200 * 1024 * 1024
                let payload = directory.appendingPathComponent("payload.bin")
                _ = FileManager.default.createFile(atPath: payload.path, contents: nil)
                let handle = try FileHandle(forWritingTo: payload)
                try handle.truncate(atOffset: UInt64(size))
                try handle.close()

                let upload = try curl(["-sS", "-H", "Expect:", "-T", payload.path, "http://127.0.0.1:\(port)/count"])
                #expect(upload.contains("\"bytes\":\(size)"), "upload answer: \(upload)")
                let download = try curl([
                    "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                    "http://127.0.0.1:\(port)/bytes/\(size)",
                ])
                #expect(download == "200 \(size)")

                let peak = try #require(weir.memoryKilobytes("VmHWM"))
                #expect(peak - baseline < 64 * 1024, "resident memory grew by \(peak - baseline) KB")

                weir.signal(SIGTERM)
                let status = await weir.waitForExit(limit: .seconds(10))
                #expect(status == 0)
                await process.stop()
            }
        }

        @Test func sigtermLetsAnInFlightRequestFinishThenExitsZero() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let process = try await WeirProcess(routes: routeYAML(versions: [("v1", servers[0].url)], canary: nil))
                let weir = try #require(process.child)
                let port = process.port
                async let slow = TestHTTPClient.request(port: port, path: "/sleep/700")
                try await Task.sleep(for: .milliseconds(200))
                weir.signal(SIGTERM)
                let response = try await slow
                #expect(response.status == 200)
                #expect(response.complete)
                #expect(await weir.waitForExit(limit: .seconds(10)) == 0)
                await process.stop()
            }
        }

        func curl(_ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

extension IntegrationTests {
    @Suite struct DrainTests {
        /// What one request saw, and when it was sent relative to SIGTERM.
        struct Attempt: Sendable {
            var sentBeforeSignal: Bool
            var status: Int
            var complete: Bool
            var connected: Bool
        }

        @Test func sigtermUnderLoadCutsNoRequestThatWasInFlight() async throws {
            try await withDemoServers([DemoModelBehavior(version: "v1")]) { servers in
                let weir = try await WeirProcess(
                    routes: """
                        routes:
                          - name: fraud
                            match: { path_prefix: / }
                            versions: { v1: { upstreams: ["\(servers[0].url)"] } }
                            stable: v1
                        """)
                let port = weir.port
                let signalled = SignalFlag()
                async let attempts = withTaskGroup(of: [Attempt].self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            var seen: [Attempt] = []
                            for _ in 0..<40 {
                                let before = !signalled.isSet
                                do {
                                    let response = try await TestHTTPClient.request(port: port, path: "/sleep/150")
                                    seen.append(
                                        Attempt(
                                            sentBeforeSignal: before, status: response.status,
                                            complete: response.complete, connected: true))
                                } catch {
                                    // Refused after the listener closed: never reached weir.
                                    seen.append(
                                        Attempt(sentBeforeSignal: before, status: 0, complete: false, connected: false))
                                    if !before { break }
                                }
                            }
                            return seen
                        }
                    }
                    return await group.reduce(into: []) { $0 += $1 }
                }
                try await Task.sleep(for: .milliseconds(700))
                signalled.set()
                weir.child?.signal(SIGTERM)
                let all = await attempts
                let exit = await weir.child?.waitForExit(limit: .seconds(15))
                await weir.stop()
                // In flight = sent before the signal and accepted (a refused connect never reached weir).
                let inFlight = all.filter { $0.sentBeforeSignal && $0.connected }
                #expect(inFlight.count >= 32)
                let cut = inFlight.filter { !($0.status == 200 && $0.complete) }
                #expect(cut.isEmpty, "\(cut.count) of \(inFlight.count) requests sent before SIGTERM did not complete")
                // After the signal new connections may be refused or closed unanswered, but no
                // response that began is ever cut.
                #expect(all.filter { $0.status != 0 && !$0.complete }.isEmpty, "a response was cut")
                #expect(exit == 0)
                print("SIGTERM under load: \(inFlight.count) requests sent before the signal, \(cut.count) cut")
            }
        }
    }
}

/// A flag set once, read from many tasks.
final class SignalFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
