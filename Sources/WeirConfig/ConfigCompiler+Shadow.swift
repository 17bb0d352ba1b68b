import WeirCore
import Yams

extension ConfigCompiler {
    /// `route.shadow` (CONTRACT §11): the version that gets copies and how its answers are compared.
    mutating func shadow(
        _ node: Node, _ path: String, versions: [VersionDefinition]?, stable: Int?, canary: Int?
    ) -> ShadowSettings? {
        let keys = ["version", "percent", "max_body", "max_in_flight", "noise", "compare", "redact"]
        guard let fields = reader.mapping(node, path, allowed: keys) else { return nil }
        guard let versionNode = required(fields, "version", in: node, path),
            let index = versionRef(versionNode, YAMLReader.join(path, "version"), versions)
        else { return nil }
        if index == stable {
            reader.fail(versionNode, YAMLReader.join(path, "version"), "the shadow must differ from the stable version")
            return nil
        }
        let comparePath = YAMLReader.join(path, "compare")
        guard let compareNode = required(fields, "compare", in: node, path), let comparator = comparator(compareNode, comparePath)
        else { return nil }
        var settings = ShadowSettings(versionIndex: index, compare: comparator)
        if let node = fields["percent"], let value = reader.number(node, YAMLReader.join(path, "percent")) {
            if value > 0 && value <= 100 {
                settings.percent = value
            } else {
                reader.fail(node, YAMLReader.join(path, "percent"), "expected a share above 0 and at most 100, found \(value)")
            }
        }
        if let node = fields["max_body"], let bytes = byteSize(node, YAMLReader.join(path, "max_body")) {
            settings.maxBody = bytes
        }
        if let node = fields["max_in_flight"],
            let value = reader.int(node, YAMLReader.join(path, "max_in_flight"), range: 1...100_000)
        {
            settings.maxInFlight = value
        }
        if let node = fields["noise"], let value = reader.int(node, YAMLReader.join(path, "noise"), range: 1...2) {
            settings.noise = value
        }
        if let node = fields["redact"], let items = reader.sequence(node, YAMLReader.join(path, "redact"), of: "redact") {
            settings.redact = Set(
                items.enumerated().compactMap {
                    reader.string($1, YAMLReader.index(YAMLReader.join(path, "redact"), $0))?.lowercased()
                })
        }
        return settings
    }

    private mutating func comparator(_ node: Node, _ path: String) -> OutputComparator? {
        let keys = ["kind", "preset", "path", "abs", "rel", "cosine", "ignore", "normalize"]
        guard let fields = reader.mapping(node, path, allowed: keys) else { return nil }
        var comparator: OutputComparator
        if let presetNode = fields["preset"], let preset = reader.string(presetNode, YAMLReader.join(path, "preset")) {
            switch preset {
            case "v2": comparator = .v2
            case "openai": comparator = .openai
            default:
                reader.fail(presetNode, YAMLReader.join(path, "preset"), "expected 'v2' or 'openai', found '\(preset)'")
                return nil
            }
        } else {
            guard let kindNode = required(fields, "kind", in: node, path),
                let text = reader.string(kindNode, YAMLReader.join(path, "kind"))
            else { return nil }
            guard let kind = OutputComparator.Kind(rawValue: text) else {
                reader.fail(
                    kindNode, YAMLReader.join(path, "kind"),
                    "expected label, numeric, distribution or json (or preset: v2 | openai), found '\(text)'")
                return nil
            }
            comparator = OutputComparator(kind: kind)
        }
        if let node = fields["path"], let text = reader.string(node, YAMLReader.join(path, "path")) {
            guard let parsed = JSONPath(text) else {
                reader.fail(node, YAMLReader.join(path, "path"), "expected a JSON path such as outputs[0].data, found '\(text)'")
                return nil
            }
            comparator.path = parsed
        } else if comparator.kind != .json && comparator.path == nil {
            reader.fail(node, YAMLReader.join(path, "path"), "a \(comparator.kind.rawValue) comparison needs a path")
            return nil
        }
        for (key, apply) in [("abs", { (c: inout OutputComparator, v: Double) in c.absolute = v }), ("rel", { $0.relative = $1 })]
        {
            if let node = fields[key], let value = reader.number(node, YAMLReader.join(path, key)) {
                if value >= 0 { apply(&comparator, value) } else { reader.fail(node, YAMLReader.join(path, key), "expected 0 or more") }
            }
        }
        if let node = fields["cosine"], let value = reader.number(node, YAMLReader.join(path, "cosine")) {
            if (-1...1).contains(value) { comparator.cosine = value } else {
                reader.fail(node, YAMLReader.join(path, "cosine"), "expected a similarity from -1 to 1")
            }
        }
        if let node = fields["ignore"], let items = reader.sequence(node, YAMLReader.join(path, "ignore"), of: "ignore") {
            comparator.ignore = Set(items.enumerated().compactMap { reader.string($1, YAMLReader.index(YAMLReader.join(path, "ignore"), $0)) })
        }
        if let node = fields["normalize"], let flag = reader.bool(node, YAMLReader.join(path, "normalize")) {
            comparator.normalize = flag
        }
        return comparator
    }

    /// `1MiB`, `512KiB`, `65536`: a size in bytes, 1 byte to 64 MiB.
    private mutating func byteSize(_ node: Node, _ path: String) -> Int? {
        guard let text = reader.string(node, path) else { return nil }
        let units: [(String, Int)] = [("MiB", 1 << 20), ("KiB", 1 << 10), ("MB", 1_000_000), ("KB", 1000), ("B", 1), ("", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count).filter { $0 != " " }), number * Double(scale) >= 1,
                number * Double(scale) <= Double(64 << 20)
            {
                return Int(number * Double(scale))
            }
            break
        }
        reader.fail(node, path, "expected a size such as 1MiB, 256KiB or 65536 (at most 64MiB), found '\(text)'")
        return nil
    }
}
