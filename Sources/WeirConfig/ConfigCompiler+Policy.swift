import WeirCore
import Yams

extension ConfigCompiler {
    static let policyKeys = [
        "steps", "interval", "warmup", "min_requests", "failure_limit", "promote", "errors", "checks", "webhooks",
        "rollback_window", "judge", "sequential", "on_hold",
    ]

    /// The policy block; nil when any part of it is invalid (the errors are recorded).
    mutating func policy(_ node: Node, _ path: String) -> RolloutPolicy? {
        guard let fields = reader.mapping(node, path, allowed: Self.policyKeys) else { return nil }
        let errorCountBefore = reader.errors.count
        var policy = RolloutPolicy()
        if let stepsNode = fields["steps"], let steps = steps(stepsNode, YAMLReader.join(path, "steps")) {
            policy.steps = steps
        }
        if let value = positiveDuration(fields["interval"], YAMLReader.join(path, "interval")) {
            policy.interval = value
        }
        if let warmupNode = fields["warmup"], let value = reader.duration(warmupNode, YAMLReader.join(path, "warmup")) {
            policy.warmup = value
        }
        if let minNode = fields["min_requests"],
            let value = reader.int(minNode, YAMLReader.join(path, "min_requests"), range: 1...1_000_000_000)
        {
            policy.minRequests = value
        }
        if let limitNode = fields["failure_limit"],
            let value = reader.int(limitNode, YAMLReader.join(path, "failure_limit"), range: 1...1000)
        {
            policy.failureLimit = value
        }
        if let promoteNode = fields["promote"], let text = reader.string(promoteNode, YAMLReader.join(path, "promote"))
        {
            if let mode = RolloutPolicy.PromoteMode(rawValue: text) {
                policy.promote = mode
            } else {
                reader.fail(
                    promoteNode, YAMLReader.join(path, "promote"), "expected 'auto' or 'manual', found '\(text)'")
            }
        }
        if let errorsNode = fields["errors"], let kinds = errorKinds(errorsNode, YAMLReader.join(path, "errors")) {
            policy.errors = kinds
        }
        if let checksNode = fields["checks"], let checks = checks(checksNode, YAMLReader.join(path, "checks")) {
            policy.checks = checks
        }
        if let hooksNode = fields["webhooks"], let hooks = webhooks(hooksNode, YAMLReader.join(path, "webhooks")) {
            policy.webhooks = hooks
        }
        if let value = positiveDuration(fields["rollback_window"], YAMLReader.join(path, "rollback_window")) {
            policy.rollbackWindow = value
        }
        if let judgeNode = fields["judge"], let text = reader.string(judgeNode, YAMLReader.join(path, "judge")) {
            switch text {
            case "thresholds": policy.judge = .thresholds
            case "sequential": policy.judge = .sequential(SequentialPolicy())
            default:
                reader.fail(
                    judgeNode, YAMLReader.join(path, "judge"), "expected 'thresholds' or 'sequential', found '\(text)'")
            }
        }
        if let sequentialNode = fields["sequential"] {
            let sequentialPath = YAMLReader.join(path, "sequential")
            if policy.sequential == nil {
                reader.fail(
                    sequentialNode, sequentialPath, "settings for the sequential judge need 'judge: sequential'")
            } else if let settings = sequential(sequentialNode, sequentialPath) {
                policy.judge = .sequential(settings)
            }
        }
        if let holdNode = fields["on_hold"], let text = reader.string(holdNode, YAMLReader.join(path, "on_hold")) {
            if let action = RolloutPolicy.HoldAction(rawValue: text) {
                policy.onHold = action
            } else {
                reader.fail(
                    holdNode, YAMLReader.join(path, "on_hold"), "expected 'rollback' or 'alert', found '\(text)'")
            }
        }
        // The sequential judge evaluates the threshold checks too, on each interval's window —
        // only the ones written down: its own tests replace the default error-rate check.
        if policy.sequential != nil && fields["checks"] == nil { policy.checks = [] }
        if let warmupNode = fields["warmup"], policy.warmup >= policy.interval {
            reader.fail(
                warmupNode, YAMLReader.join(path, "warmup"),
                "must be shorter than the interval (\(DurationText.format(policy.interval)))")
        }
        return reader.errors.count == errorCountBefore ? policy : nil
    }

    /// `learn`, `off` or a threshold such as `250ms`: how one kind of slow event is judged.
    private mutating func latencyTest(_ node: Node, _ path: String) -> SequentialPolicy.LatencyTest? {
        guard let text = reader.string(node, path) else { return nil }
        switch text {
        case "off": return .off
        case "learn": return .slowEvents(thresholdSeconds: nil)
        default:
            if let threshold = DurationText.parse(text), threshold > .zero {
                return .slowEvents(
                    thresholdSeconds: Double(threshold.components.seconds) + Double(threshold.components.attoseconds)
                        / 1e18)
            }
            reader.fail(node, path, "expected 'learn', 'off' or a slow-response threshold such as 250ms, found '\(text)'")
            return nil
        }
    }

    private mutating func sequential(_ node: Node, _ path: String) -> SequentialPolicy? {
        let keys = [
            "alpha", "ratios", "r0", "latency", "ttft", "tpot", "max_step_time", "min_bake_time", "trouble_error_rate",
        ]
        guard let fields = reader.mapping(node, path, allowed: keys) else { return nil }
        var settings = SequentialPolicy()
        if let alphaNode = fields["alpha"], let alpha = reader.number(alphaNode, YAMLReader.join(path, "alpha")) {
            if alpha > 0 && alpha < 0.5 {
                settings.alpha = alpha
            } else {
                reader.fail(
                    alphaNode, YAMLReader.join(path, "alpha"),
                    "expected a false-rollback probability above 0 and below 0.5, found \(alpha)")
            }
        }
        if let ratiosNode = fields["ratios"],
            let items = reader.sequence(ratiosNode, YAMLReader.join(path, "ratios"), of: "ratios")
        {
            let ratios = items.enumerated().compactMap { index, item in
                reader.number(item, YAMLReader.index(YAMLReader.join(path, "ratios"), index))
            }
            if ratios.count == items.count, !ratios.isEmpty, ratios.allSatisfy({ $0 > 1 }) {
                settings.ratios = ratios
            } else {
                reader.fail(
                    ratiosNode, YAMLReader.join(path, "ratios"),
                    "expected a list of ratios above 1, such as [1.5, 2, 3, 5, 8, 13, 20]")
            }
        }
        if let node = fields["trouble_error_rate"],
            let rate = reader.number(node, YAMLReader.join(path, "trouble_error_rate"))
        {
            if rate > 0 && rate <= 1 {
                settings.troubleErrorRate = rate
            } else {
                reader.fail(node, YAMLReader.join(path, "trouble_error_rate"), "expected a rate above 0 and at most 1, found \(rate)")
            }
        }
        if let r0Node = fields["r0"], let r0 = reader.number(r0Node, YAMLReader.join(path, "r0")) {
            if r0 > 1 {
                settings.r0 = r0
            } else {
                reader.fail(r0Node, YAMLReader.join(path, "r0"), "expected a ratio above 1, found \(r0)")
            }
        }
        if let node = fields["latency"], let test = latencyTest(node, YAMLReader.join(path, "latency")) {
            settings.latency = test
        }
        if let node = fields["ttft"], let test = latencyTest(node, YAMLReader.join(path, "ttft")) {
            settings.ttft = test
        }
        if let node = fields["tpot"], let test = latencyTest(node, YAMLReader.join(path, "tpot")) {
            settings.tpot = test
        }
        if let node = fields["max_step_time"] {
            settings.maxStepTime = positiveDuration(node, YAMLReader.join(path, "max_step_time"))
        }
        if let node = fields["min_bake_time"], let value = reader.duration(node, YAMLReader.join(path, "min_bake_time"))
        {
            settings.minBakeTime = value
        }
        return settings
    }

    private mutating func positiveDuration(_ node: Node?, _ path: String) -> Duration? {
        guard let node, let value = reader.duration(node, path) else { return nil }
        guard value > .zero else {
            reader.fail(node, path, "expected a duration above 0")
            return nil
        }
        return value
    }

    private mutating func steps(_ node: Node, _ path: String) -> [RolloutPolicy.Step]? {
        guard let items = reader.sequence(node, path, of: "canary weights") else { return nil }
        if items.isEmpty {
            reader.fail(node, path, "expected at least one step")
            return nil
        }
        var steps: [RolloutPolicy.Step] = []
        var valid = true
        for (index, item) in items.enumerated() {
            let itemPath = YAMLReader.index(path, index)
            var step: RolloutPolicy.Step?
            var weightNode = item
            if case .mapping = item {
                if let fields = reader.mapping(item, itemPath, allowed: ["weight", "pause"]),
                    let node = required(fields, "weight", in: item, itemPath)
                {
                    weightNode = node
                    let pause = fields["pause"].flatMap { reader.bool($0, YAMLReader.join(itemPath, "pause")) } ?? false
                    step = stepWeight(node, YAMLReader.join(itemPath, "weight")).map {
                        RolloutPolicy.Step(weight: $0, pause: pause)
                    }
                }
            } else if case .scalar(let scalar) = item, scalar.string == "shadow" {
                // The canary answers nobody yet: it gets copies of the traffic and is compared.
                if let previous = steps.last, !previous.shadow {
                    reader.fail(item, itemPath, "a shadow step comes before every weighted step")
                    valid = false
                }
                steps.append(RolloutPolicy.Step(shadow: ()))
                continue
            } else {
                step = stepWeight(item, itemPath).map { RolloutPolicy.Step(weight: $0) }
            }
            guard let step else {
                valid = false
                continue
            }
            if let previous = steps.last, !previous.shadow, step.weight <= previous.weight {
                reader.fail(
                    weightNode, itemPath,
                    "steps must increase; \(Self.percent(step.weight)) follows \(Self.percent(previous.weight))")
                valid = false
            }
            steps.append(step)
        }
        return valid ? steps : nil
    }

    private mutating func stepWeight(_ node: Node, _ path: String) -> Double? {
        guard let weight = reader.number(node, path) else { return nil }
        guard weight > 0 && weight <= 100 else {
            reader.fail(
                node, path, "expected a canary weight above 0 and at most 100 (percent), found \(Self.percent(weight))")
            return nil
        }
        guard (weight * 100).rounded() == weight * 100 else {
            reader.fail(node, path, "expected a weight with at most two decimals, found \(weight)")
            return nil
        }
        return weight
    }

    private mutating func errorKinds(_ node: Node, _ path: String) -> Set<ErrorKind>? {
        guard let items = reader.sequence(node, path, of: "error kinds") else { return nil }
        var kinds: Set<ErrorKind> = []
        var valid = true
        for (index, item) in items.enumerated() {
            guard let text = reader.string(item, YAMLReader.index(path, index)) else {
                valid = false
                continue
            }
            guard let kind = ErrorKind(rawValue: text), kind != .client else {
                let known = ErrorKind.allCases.filter { $0 != .client }.map(\.rawValue).joined(separator: ", ")
                reader.fail(
                    item, YAMLReader.index(path, index), "unknown error kind '\(text)'; expected one of: \(known)")
                valid = false
                continue
            }
            kinds.insert(kind)
        }
        return valid ? kinds : nil
    }

    private mutating func checks(_ node: Node, _ path: String) -> [Check]? {
        guard let items = reader.sequence(node, path, of: "checks") else { return nil }
        var checks: [Check] = []
        var valid = true
        for (index, item) in items.enumerated() {
            if let check = check(item, YAMLReader.index(path, index)) {
                checks.append(check)
            } else {
                valid = false
            }
        }
        return valid ? checks : nil
    }

    private mutating func check(_ node: Node, _ path: String) -> Check? {
        guard let fields = reader.mapping(node, path, allowed: ["metric", "max", "max_increase", "max_ratio"]) else {
            return nil
        }
        guard let metricNode = required(fields, "metric", in: node, path),
            let name = reader.string(metricNode, YAMLReader.join(path, "metric"))
        else { return nil }
        guard let metric = Self.metric(named: name) else {
            reader.fail(
                metricNode, YAMLReader.join(path, "metric"),
                "unknown metric '\(name)'; expected error_rate, latency_pNN, ttfb_pNN (e.g. latency_p99), for LLM routes ttft_pNN, tpot_pNN, output_tokens_mean, finish_length_rate, stream_error_rate, for shadows disagreement, output_ks, output_psi"
            )
            return nil
        }
        let bounds = ["max", "max_increase", "max_ratio"].filter { fields[$0] != nil }
        guard bounds.count == 1, let boundKey = bounds.first, let boundNode = fields[boundKey] else {
            reader.fail(node, path, "expected exactly one of max, max_increase or max_ratio")
            return nil
        }
        let boundPath = YAMLReader.join(path, boundKey)
        let value: Double?
        if boundKey == "max_ratio" {
            value = reader.number(boundNode, boundPath)
            if let value, value <= 0 {
                reader.fail(boundNode, boundPath, "expected a ratio above 0, found \(value)")
                return nil
            }
        } else {
            switch metric.unit {
            case .rate:
                value = reader.number(boundNode, boundPath)
                if let value, !(0...1).contains(value) {
                    reader.fail(boundNode, boundPath, "expected a rate from 0 to 1 (0.02 = 2 %), found \(value)")
                    return nil
                }
            case .tokens, .statistic:
                value = reader.number(boundNode, boundPath)
                if let value, value < 0 {
                    reader.fail(boundNode, boundPath, "expected a number of 0 or more, found \(value)")
                    return nil
                }
            case .seconds:
                value = reader.duration(boundNode, boundPath).map {
                    Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
                }
            }
        }
        guard let value else { return nil }
        let bound: Check.Bound =
            switch boundKey {
            case "max": .max(value)
            case "max_increase": .maxIncrease(value)
            default: .maxRatio(value)
            }
        return Check(metric: metric, bound: bound)
    }

    static func metric(named name: String) -> Check.Metric? {
        switch name {
        case "error_rate": return .errorRate
        case "output_tokens_mean": return .outputTokensMean
        case "finish_length_rate": return .finishLengthRate
        case "stream_error_rate": return .streamErrorRate
        case "disagreement": return .disagreement
        case "output_ks": return .outputKS
        case "output_psi": return .outputPSI
        default: break
        }
        let percentiles: [(String, (Double) -> Check.Metric)] = [
            ("latency_p", Check.Metric.latency), ("ttfb_p", Check.Metric.timeToFirstByte),
            ("ttft_p", Check.Metric.timeToFirstToken), ("tpot_p", Check.Metric.timePerOutputToken),
        ]
        for (prefix, make) in percentiles
        where name.hasPrefix(prefix) {
            let digits = name.dropFirst(prefix.count)
            guard let first = digits.first, first.isNumber else { return nil }
            // p99 = 99, p999 = 99.9, p50 = 50
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count >= 2 else { return nil }
            let value = Double(digits.prefix(2))! + (digits.count > 2 ? Double("0." + digits.dropFirst(2))! : 0)
            guard value > 0 && value < 100 else { return nil }
            return make(value)
        }
        return nil
    }

    private mutating func webhooks(_ node: Node, _ path: String) -> [Webhook]? {
        guard let items = reader.sequence(node, path, of: "webhooks") else { return nil }
        var hooks: [Webhook] = []
        var valid = true
        for (index, item) in items.enumerated() {
            let itemPath = YAMLReader.index(path, index)
            guard let fields = reader.mapping(item, itemPath, allowed: ["on", "url", "ca"]),
                let onNode = required(fields, "on", in: item, itemPath),
                let urlNode = required(fields, "url", in: item, itemPath),
                let url = reader.string(urlNode, YAMLReader.join(itemPath, "url")),
                let events = reader.sequence(onNode, YAMLReader.join(itemPath, "on"), of: "events")
            else {
                valid = false
                continue
            }
            let scheme = ["https://", "http://"].first { url.hasPrefix($0) }
            if scheme == nil || url.count <= scheme!.count || url.contains(where: { $0 == " " || $0 == "\n" }) {
                reader.fail(
                    urlNode, YAMLReader.join(itemPath, "url"), "expected an https:// (or http://) URL, found '\(url)'")
                valid = false
            }
            let caFile = fields["ca"].flatMap { reader.string($0, YAMLReader.join(itemPath, "ca")) }
            var triggers: Set<Webhook.Trigger> = []
            for (eventIndex, event) in events.enumerated() {
                let eventPath = YAMLReader.index(YAMLReader.join(itemPath, "on"), eventIndex)
                guard let text = reader.string(event, eventPath) else { continue }
                if let trigger = Webhook.Trigger(rawValue: text) {
                    triggers.insert(trigger)
                } else {
                    let known = Webhook.Trigger.allCases.map(\.rawValue).joined(separator: ", ")
                    reader.fail(event, eventPath, "unknown event '\(text)'; expected one of: \(known)")
                    valid = false
                }
            }
            hooks.append(Webhook(on: triggers, url: url, caFile: caFile))
        }
        return valid ? hooks : nil
    }

    static func percent(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))" : "\(value)"
    }
}
