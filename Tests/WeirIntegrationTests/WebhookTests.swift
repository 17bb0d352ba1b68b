import Foundation
import Logging
import Testing
import Weir
import WeirCore
import WeirTesting

extension IntegrationTests {
    @Suite struct WebhookTests {
        let event = RolloutEvent(
            at: 1_764_180_000_000, route: "fraud", from: .progressing, to: .rolledBack, fromStep: 0, toStep: 0,
            weights: ["v1": 100, "v2": 0], actor: .policy,
            reason: "rolled back after 2 failed windows: error_rate 6.2%", kind: .rollback
        )

        @Test func rollbackIsPostedAsJSONAndRetriedAfterFailures() async throws {
            let receiver = try await RecordingHTTPServer.start(failFirst: 2)
            let notifier = WebhookNotifier(logger: Logger(label: "test"), attempts: 5, firstBackoff: .milliseconds(20))
            let policy = RolloutPolicy(webhooks: [Webhook(on: [.rollback], url: receiver.url)])
            notifier.notify(event, policy: policy)
            for _ in 0..<100 where receiver.received.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            let body = try #require(receiver.received.first)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(json["event"] as? String == "rollback")
            #expect(json["route"] as? String == "fraud")
            #expect(json["to"] as? String == "rolled_back")
            #expect(json["actor"] as? String == "policy")
            #expect(json["at"] as? String == "2025-11-26T18:00:00Z")
            #expect((json["weights"] as? [String: Double]) == ["v1": 100, "v2": 0])
            #expect(notifier.deliveryCounts == WebhookNotifier.Counts(delivered: 1, failedAttempts: 2, abandoned: 0))
            await receiver.stop()
        }

        @Test func onlySubscribedEventsAreSentAndAnUnreachableHookIsAbandoned() async throws {
            let receiver = try await RecordingHTTPServer.start()
            let deadPort = try await FreePort.find()
            let notifier = WebhookNotifier(logger: Logger(label: "test"), attempts: 2, firstBackoff: .milliseconds(10))
            let policy = RolloutPolicy(webhooks: [
                Webhook(on: [.promote], url: receiver.url),
                Webhook(on: [.rollback], url: "http://127.0.0.1:\(deadPort)/hook"),
            ])
            notifier.notify(event, policy: policy)
            for _ in 0..<100 where notifier.deliveryCounts.abandoned == 0 {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(notifier.deliveryCounts == WebhookNotifier.Counts(delivered: 0, failedAttempts: 2, abandoned: 1))
            #expect(receiver.received.isEmpty)
            await receiver.stop()
        }

        @Test func httpsReceiversAreVerifiedAndAWrongCertificateIsRefusedAndCounted() async throws {
            let trusted = try TestCertificates.make()
            let stranger = try TestCertificates.make()
            defer {
                trusted.remove()
                stranger.remove()
            }
            let good = try await RecordingHTTPServer.start(tls: (trusted.serverCertificate, trusted.serverKey))
            let impostor = try await RecordingHTTPServer.start(tls: (stranger.serverCertificate, stranger.serverKey))
            #expect(good.url.hasPrefix("https://"))
            let notifier = WebhookNotifier(logger: Logger(label: "test"), attempts: 2, firstBackoff: .milliseconds(10))
            notifier.notify(event, policy: RolloutPolicy(webhooks: [Webhook(on: [.rollback], url: good.url, caFile: trusted.caFile)]))
            for _ in 0..<200 where good.received.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            #expect(good.received.count == 1)
            #expect(notifier.deliveryCounts.delivered == 1)

            // Signed by an authority this webhook does not trust: never sent, counted as refused.
            notifier.notify(event, policy: RolloutPolicy(webhooks: [Webhook(on: [.rollback], url: impostor.url, caFile: trusted.caFile)]))
            for _ in 0..<200 where notifier.deliveryCounts.abandoned == 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(notifier.deliveryCounts == WebhookNotifier.Counts(delivered: 1, failedAttempts: 2, abandoned: 1, tlsRefused: 2))
            #expect(impostor.received.isEmpty)
            // Nor does the system's trust store know the test CA.
            notifier.notify(event, policy: RolloutPolicy(webhooks: [Webhook(on: [.rollback], url: good.url)]))
            for _ in 0..<200 where notifier.deliveryCounts.abandoned == 1 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(notifier.deliveryCounts.tlsRefused == 4)
            #expect(good.received.count == 1)
            await good.stop()
            await impostor.stop()
        }
    }
}
