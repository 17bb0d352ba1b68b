import Benchmark
import WeirCore

/// The core work the data plane does per request, measured alone: choosing a version, matching a
/// route, recording an outcome into the current second; and the per-window reads the engine does.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
        maxDuration: .seconds(2), maxIterations: 10_000)

    let split = TrafficSplit(stableIndex: 0, canaryIndex: 1, canaryPercent: 10)

    Benchmark("VersionSelector.select (weighted)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var random = SplitMix64(seed: 42)
        for _ in benchmark.scaledIterations {
            blackHole(VersionSelector.select(split: split, overrideIndex: nil, stickyKey: nil, using: &random))
        }
    }

    Benchmark("VersionSelector.select (sticky)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var random = SplitMix64(seed: 42)
        let key: Substring = "user-8f14e45fceea167a"
        for _ in benchmark.scaledIterations {
            blackHole(VersionSelector.select(split: split, overrideIndex: nil, stickyKey: key, using: &random))
        }
    }

    let routes = (0..<8).map { index in
        RouteDefinition(
            name: "model-\(index)", match: RouteMatch(pathPrefix: "/v2/models/model-\(index)"), timeout: .seconds(10),
            versions: [
                VersionDefinition(
                    name: "v1", upstreams: [UpstreamAddress(scheme: .http, host: "127.0.0.1", port: 9001)])
            ],
            stableIndex: 0, canaryIndex: nil, sticky: nil, policy: RolloutPolicy())
    }
    let table = RoutingTable(initialFor: routes)
    Benchmark("RoutingTable.routeIndex (8 routes, last matches)", configuration: .init(scalingFactor: .kilo)) {
        benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(table.routeIndex(path: "/v2/models/model-7/infer", host: nil, headerValue: { _ in nil }))
        }
    }

    // Every request's path is normalised before matching: the common path must stay allocation-free.
    for (name, path) in [("plain", "/v2/models/model-7/infer?x=1"), ("dot-segments", "/v2/models/a/%2e%2e/b/./infer")]
    {
        Benchmark("PathNormalizer.normalize (\(name))", configuration: .init(scalingFactor: .kilo)) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(PathNormalizer.normalize(path)) }
        }
    }

    Benchmark("PerSecondRecorder.record", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var recorder = PerSecondRecorder()
        let outcome = RequestOutcome(status: 200, failure: nil, firstByteNanos: 800_000, totalNanos: 1_200_000)
        for _ in benchmark.scaledIterations {
            recorder.record(outcome, series: SeriesID(rawValue: 1), second: 1_000)
        }
        blackHole(recorder)
    }

    Benchmark("LatencyHistogram p50+p99 of a 10 000-request window") { benchmark in
        var histogram = LatencyHistogram()
        var random = SplitMix64(seed: 7)
        for _ in 0..<10_000 { histogram.record(nanoseconds: 500_000 + random.next() % 20_000_000) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(histogram.seconds(atPercentile: 50))
            blackHole(histogram.seconds(atPercentile: 99))
        }
    }

    Benchmark("SlidingWindow.stats over 30 s") { benchmark in
        var window = SlidingWindow(capacitySeconds: 300)
        var stats = RequestStats()
        for _ in 0..<200 {
            stats.record(RequestOutcome(status: 200, failure: nil, firstByteNanos: 900_000, totalNanos: 1_500_000))
        }
        for second in 0..<300 { window.add(second: Int64(second), stats: stats) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(window.stats(from: 270, to: 300))
        }
    }

    // The LLM meter reads every chunk of a streamed answer: one typical OpenAI chunk (≈ 200 bytes)
    // per iteration, in one buffer as it usually arrives.
    let chunk = Array(
        #"data: {"id":"chatcmpl-9f2c","object":"chat.completion.chunk","created":1732752000,"model":"llama-3-8b","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}"#
            .utf8) + [10, 10]
    Benchmark("LLMStreamMeter.read (one chat chunk)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var meter = LLMStreamMeter(framing: .events, requireShape: false, startedAt: 0)
        var now: UInt64 = 1
        for _ in benchmark.scaledIterations {
            now += 1
            chunk.withUnsafeBytes { meter.read($0, now: now) }
        }
        blackHole(meter.finish(now: now, cut: false))
    }
}
