import Testing
import WeirCore

@testable import WeirProxy

/// The request path's rules, with no sockets and no sleeping: time is a number passed in.
@Suite struct ExchangeStateMachineTests {
    typealias Machine = ExchangeStateMachine
    static let second: UInt64 = 1_000_000_000
    static let settings = Machine.Settings(
        idleTimeout: 60 * second, bodyTimeout: 10 * second, lingerTime: 5 * second, lingerBytes: 1000, isStream: false)
    static var streamSettings: Machine.Settings {
        var settings = Self.settings
        settings.isStream = true
        return settings
    }

    static func routed(idempotent: Bool = true, body: Bool = false, retries: Int = 0) -> Machine.Plan {
        .routed(Machine.Routed(isIdempotent: idempotent, hasBody: body, timeout: 30 * second, connectRetries: retries))
    }

    /// The states a connection can be in, each reached by real events from a fresh machine.
    enum Reached: CaseIterable {
        case idle, acquiringBody, acquiringComplete, awaitingHeadBody, awaitingHeadComplete, streamingBody,
            streamingComplete, lingering, closed

        func machine(stream: Bool = false) -> Machine {
            var machine = Machine(settings: stream ? streamSettings : settings, now: 0)
            func head(body: Bool) { _ = machine.requestHead(routed(body: body), keepAlive: true, now: 0) }
            switch self {
            case .idle: break
            case .acquiringBody: head(body: true)
            case .acquiringComplete:
                head(body: false)
                _ = machine.requestEnd(now: 0)
            case .awaitingHeadBody:
                head(body: true)
                _ = machine.upstreamAcquired(reused: false)
            case .awaitingHeadComplete:
                head(body: false)
                _ = machine.requestEnd(now: 0)
                _ = machine.upstreamAcquired(reused: false)
            case .streamingBody:
                head(body: true)
                _ = machine.upstreamAcquired(reused: false)
                _ = machine.responseHead()
            case .streamingComplete:
                head(body: false)
                _ = machine.requestEnd(now: 0)
                _ = machine.upstreamAcquired(reused: false)
                _ = machine.responseHead()
            case .lingering:
                _ = machine.requestHead(.rejected(.noRoute("none")), keepAlive: true, now: 0)
            case .closed:
                _ = machine.clientClosed()
            }
            return machine
        }
    }

    enum Event: CaseIterable {
        case headRouted, headRejected, body, end, acquired, acquireFailed, overflow, responseHead, responseBody,
            responseEnd, upstreamClosed, timer, clientClosed

        func apply(_ machine: inout Machine) -> Machine.Action {
            let now: UInt64 = 1
            switch self {
            case .headRouted: return machine.requestHead(routed(), keepAlive: true, now: now)
            case .headRejected: return machine.requestHead(.rejected(.noRoute("x")), keepAlive: true, now: now)
            case .body: return machine.requestBodyPart(bytes: 10, now: now)
            case .end: return machine.requestEnd(now: now)
            case .acquired: return machine.upstreamAcquired(reused: false)
            case .acquireFailed: return machine.upstreamAcquireFailed(overflow: false, detail: "refused", now: now)
            case .overflow: return machine.upstreamAcquireFailed(overflow: true, detail: "full", now: now)
            case .responseHead: return machine.responseHead()
            case .responseBody: return machine.responseBodyPart()
            case .responseEnd: return machine.responseEnd(now: now)
            case .upstreamClosed: return machine.upstreamClosed(now: now)
            case .timer: return machine.timerFired(now: machine.deadline ?? now)
            case .clientClosed: return machine.clientClosed()
            }
        }
    }

    /// Every state × every event: the machine ends in a state that names a deadline (or is closed,
    /// or is an idle HTTP/2 stream whose connection keeps the idle timer), so nothing can hold a
    /// connection forever.
    @Test(arguments: Reached.allCases, [false, true])
    func everyStateKeepsADeadlineAfterEveryEvent(state: Reached, stream: Bool) {
        for event in Event.allCases {
            var machine = state.machine(stream: stream)
            _ = event.apply(&machine)
            let idleStream = stream && !machine.isExchanging && machine.deadline == nil && !machine.isClosed
            #expect(machine.isClosed || machine.deadline != nil || idleStream, "\(state) + \(event)")
        }
    }

    /// The expected action for each state × event pair that moves the exchange (HTTP/1.1).
    @Test func actionTable() {
        let answerUnreachable = Machine.Action.answer(
            .upstreamUnreachable("refused"), close: false, resetStream: false)
        let table: [(Reached, Event, Machine.Action)] = [
            (.idle, .headRouted, .acquireUpstream(reuse: true, avoidPrevious: false, replay: false)),
            (.idle, .headRejected, .answer(.noRoute("x"), close: false, resetStream: false)),
            (.idle, .timer, .close),
            (.idle, .clientClosed, .none),
            (.acquiringBody, .body, .bufferBodyPart),
            (.acquiringBody, .end, .bufferEnd),
            (.acquiringBody, .acquired, .sendBuffered),
            (.acquiringBody, .acquireFailed, answerUnreachable),
            (.acquiringBody, .overflow, .answer(.upstreamOverflow("full"), close: false, resetStream: false)),
            (.acquiringBody, .clientClosed, .abandon(upstreamCanFinish: false)),
            (.acquiringBody, .headRouted, .close),
            (.acquiringComplete, .acquired, .sendBuffered),
            (.acquiringComplete, .acquireFailed, answerUnreachable),
            (.awaitingHeadBody, .body, .forwardBodyPart),
            (.awaitingHeadBody, .end, .forwardEnd),
            (.awaitingHeadBody, .responseHead, .forwardResponseHead),
            (
                .awaitingHeadBody, .upstreamClosed,
                .answer(
                    .upstreamReset("the upstream closed the connection before answering"), close: false,
                    resetStream: false)
            ),
            (.awaitingHeadComplete, .responseHead, .forwardResponseHead),
            (.awaitingHeadComplete, .acquired, .releaseUpstream),
            (.awaitingHeadComplete, .clientClosed, .abandon(upstreamCanFinish: true)),
            (.streamingBody, .responseBody, .forwardResponseBodyPart),
            (.streamingBody, .body, .forwardBodyPart),
            (.streamingBody, .responseEnd, .finishResponse(reuseUpstream: false, close: false, resetStream: false)),
            (
                .streamingBody, .upstreamClosed,
                .cutResponse(.upstreamReset("the upstream closed the connection mid-response"))
            ),
            (.streamingComplete, .responseEnd, .finishResponse(reuseUpstream: true, close: false, resetStream: false)),
            (.streamingComplete, .responseHead, .none),
            (.streamingComplete, .clientClosed, .abandon(upstreamCanFinish: true)),
            (.lingering, .body, .dropBodyPart),
            (.lingering, .end, .none),
            (.lingering, .timer, .close),
            (.closed, .headRouted, .close),
            (.closed, .timer, .none),
        ]
        for (state, event, expected) in table {
            var machine = state.machine()
            #expect(event.apply(&machine) == expected, "\(state) + \(event)")
        }
    }

    @Test func aClientThatStallsItsBodyGets408AsItsOwnFault() {
        var machine = Reached.awaitingHeadBody.machine()
        _ = machine.requestBodyPart(bytes: 100, now: 3 * Self.second)
        #expect(machine.deadline == 13 * Self.second)
        #expect(machine.timerFired(now: 12 * Self.second) == .none)
        guard case .answer(let failure, let close, _) = machine.timerFired(now: 13 * Self.second) else {
            Issue.record("expected an answer")
            return
        }
        #expect(failure.status == 408)
        #expect(failure.errorKind == .client)
        #expect(close)
        #expect(machine.isClosed)
    }

    @Test func theRouteTimeoutStartsWhenTheRequestIsComplete() {
        var machine = Reached.awaitingHeadBody.machine()
        // A slow upload: a part every 9 s for a minute, all within the body timeout.
        for step in 1...7 {
            #expect(machine.requestBodyPart(bytes: 1, now: UInt64(step) * 9 * Self.second) == .forwardBodyPart)
        }
        _ = machine.requestEnd(now: 63 * Self.second)
        #expect(machine.deadline == 93 * Self.second)
        guard case .answer(let failure, _, _) = machine.timerFired(now: 93 * Self.second) else {
            Issue.record("expected a 504")
            return
        }
        #expect(failure.status == 504 && failure.errorKind == .timeout)
    }

    @Test func pausedReadsDoNotBlameTheClient() {
        var machine = Reached.awaitingHeadBody.machine()
        machine.readsPaused(now: 1 * Self.second)
        // The body timeout (10 s) does not apply while Weir is not reading; the route timeout does.
        #expect(machine.timerFired(now: 20 * Self.second) == .none)
        guard case .answer(let failure, _, _) = machine.timerFired(now: 31 * Self.second) else {
            Issue.record("expected an answer")
            return
        }
        #expect(failure.errorKind == .timeout)
    }

    @Test func anEarlyAnswerLingersWithinItsBudgetThenKeepsTheConnection() {
        var machine = Reached.streamingBody.machine()
        #expect(machine.responseEnd(now: 0) == .finishResponse(reuseUpstream: false, close: false, resetStream: false))
        #expect(machine.deadline == 5 * Self.second)
        #expect(machine.requestBodyPart(bytes: 600, now: 1) == .dropBodyPart)
        #expect(machine.requestEnd(now: 2) == .none)
        #expect(machine.requestHead(Self.routed(), keepAlive: true, now: 3) != .close)
    }

    @Test func lingeringStopsAtTheByteBudget() {
        var machine = Reached.lingering.machine()
        #expect(machine.requestBodyPart(bytes: 600, now: 1) == .dropBodyPart)
        #expect(machine.requestBodyPart(bytes: 600, now: 2) == .close)
        #expect(machine.isClosed)
    }

    @Test func anHTTP2EarlyAnswerResetsTheStream() {
        var machine = Reached.streamingBody.machine(stream: true)
        #expect(machine.responseEnd(now: 0) == .finishResponse(reuseUpstream: false, close: false, resetStream: true))
        var rejected = Reached.idle.machine(stream: true)
        _ = rejected.requestHead(.rejected(.noRoute("x")), keepAlive: true, now: 0)
        #expect(rejected.requestBodyPart(bytes: 1, now: 1) == .resetStream)
    }

    @Test func aBadRequestClosesTheConnection() {
        var machine = Reached.idle.machine()
        #expect(
            machine.requestHead(.rejected(.badRequest("dup host")), keepAlive: true, now: 0)
                == .answer(.badRequest("dup host"), close: true, resetStream: false))
        #expect(machine.isClosed)
    }

    @Test func aStalePooledConnectionReplaysOnlyIdempotentBodylessRequests() {
        for (idempotent, body, replays) in [(true, false, true), (false, false, false), (true, true, false)] {
            var machine = Machine(settings: Self.settings, now: 0)
            _ = machine.requestHead(Self.routed(idempotent: idempotent, body: body), keepAlive: true, now: 0)
            if body { _ = machine.requestBodyPart(bytes: 5, now: 0) }
            _ = machine.requestEnd(now: 0)
            _ = machine.upstreamAcquired(reused: true)
            let action = machine.upstreamClosed(now: 1)
            #expect(
                (action == .acquireUpstream(reuse: false, avoidPrevious: false, replay: true)) == replays,
                "idempotent \(idempotent) body \(body)")
            if replays {
                // Once only: a second close is an answer.
                _ = machine.upstreamAcquired(reused: false)
                guard case .answer(let failure, _, _) = machine.upstreamClosed(now: 2) else {
                    Issue.record("expected a 502")
                    return
                }
                #expect(failure.errorKind == .reset)
            }
        }
    }

    @Test func aFreshConnectionThatClosesIsNeverReplayed() {
        var machine = Reached.awaitingHeadComplete.machine()
        guard case .answer(let failure, _, _) = machine.upstreamClosed(now: 1) else {
            Issue.record("expected a 502")
            return
        }
        #expect(failure.status == 502)
    }

    @Test func aConnectFailureMovesToAnotherUpstreamOnce() {
        var machine = Machine(settings: Self.settings, now: 0)
        _ = machine.requestHead(Self.routed(idempotent: false, retries: 1), keepAlive: true, now: 0)
        #expect(
            machine.upstreamAcquireFailed(overflow: false, detail: "a", now: 1)
                == .acquireUpstream(reuse: true, avoidPrevious: true, replay: false))
        guard case .answer(let failure, _, _) = machine.upstreamAcquireFailed(overflow: false, detail: "b", now: 2)
        else {
            Issue.record("expected a 502")
            return
        }
        #expect(failure.status == 502 && failure.errorKind == .connect)
    }

    @Test func overflowIsAnsweredAtOnceWithoutRetry() {
        var machine = Machine(settings: Self.settings, now: 0)
        _ = machine.requestHead(Self.routed(retries: 3), keepAlive: true, now: 0)
        _ = machine.requestEnd(now: 0)
        guard case .answer(let failure, _, _) = machine.upstreamAcquireFailed(overflow: true, detail: "full", now: 1)
        else {
            Issue.record("expected a 503")
            return
        }
        #expect(failure.status == 503 && failure.errorKind == .overflow)
    }

    @Test func drainMakesTheExchangeTheLast() {
        var machine = Reached.streamingComplete.machine()
        machine.drainStarted()
        #expect(machine.closesAfterResponse)
        #expect(machine.responseEnd(now: 1) == .finishResponse(reuseUpstream: true, close: true, resetStream: false))
    }
}
