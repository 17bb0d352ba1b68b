/// Reads the few fields weir needs out of one JSON document of an LLM response — an OpenAI
/// `chat.completion(.chunk)` / `text_completion`, a KServe `generate_stream` event, or an error —
/// without building any objects: a recursive-descent walk over the bytes that remembers only the
/// path of keys it is under. Malformed or deeper-than-`maxDepth` input ends the walk with nothing
/// learned (the bytes still go to the client untouched; only the measurement gives up).
public struct CompletionChunkScanner {
    /// What one document said.
    public struct Fields: Sendable, Hashable {
        /// It carried generated content: a non-empty `delta.content`/`text`/`message.content`,
        /// reasoning, a tool call, or a KServe `text_output`.
        public var content = false
        public var finish: FinishReason?
        public var completionTokens: UInt64?
        public var promptTokens: UInt64?
        /// A top-level `error` (not null), or `"object": "error"`.
        public var error = false
        /// It had the shape of a completion (`choices` or `text_output`): what auto-detection looks for.
        public var shaped = false
        /// It had OpenAI's shape (`choices`): such a stream ends with `finish_reason` and `[DONE]`.
        public var openAI = false
        public init() {}
    }

    /// The keys that matter; every other key is `.other`.
    enum Key: UInt8 {
        case other, choices, delta, message, content, text, reasoningContent, reasoning, toolCalls, functionCall
        case finishReason, usage, completionTokens, promptTokens, error, object, textOutput

        static let table: [(StaticString, Key)] = [
            ("choices", .choices), ("delta", .delta), ("message", .message), ("content", .content), ("text", .text),
            ("reasoning_content", .reasoningContent), ("reasoning", .reasoning), ("tool_calls", .toolCalls),
            ("function_call", .functionCall), ("finish_reason", .finishReason), ("usage", .usage),
            ("completion_tokens", .completionTokens), ("prompt_tokens", .promptTokens), ("error", .error),
            ("object", .object), ("text_output", .textOutput),
        ]

        static func named(_ bytes: UnsafeRawBufferPointer) -> Key {
            for (name, key) in table where name.utf8CodeUnitCount == bytes.count {
                if name.withUTF8Buffer({ bytes.elementsEqual(UnsafeRawBufferPointer($0)) }) { return key }
            }
            return .other
        }
    }

    static let maxDepth = 16

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    /// The keys of the objects the walk is inside, outermost first (arrays add no key).
    private var path: [Key] = []
    private var fields = Fields()

    private init(_ bytes: UnsafeRawBufferPointer, path: [Key]) {
        self.bytes = bytes
        self.path = path
        self.path.removeAll(keepingCapacity: true)
        self.path.reserveCapacity(Self.maxDepth)
    }

    /// The fields of the document in `bytes`; nil when it is not one well-formed JSON value.
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> Fields? {
        var path: [Key] = []
        return scan(bytes, reusing: &path)
    }

    /// `scan`, keeping the key-path storage in `path` for the next document (no allocation per chunk).
    static func scan(_ bytes: UnsafeRawBufferPointer, reusing path: inout [Key]) -> Fields? {
        var scanner = CompletionChunkScanner(bytes, path: path)
        path = []
        defer { path = scanner.path }
        scanner.skipSpace()
        guard scanner.value(depth: 0) != nil else { return nil }
        scanner.skipSpace()
        guard scanner.index == bytes.count else { return nil }
        return scanner.fields
    }

    // MARK: The walk

    /// What a value was, as far as the rules need it.
    enum Value {
        case string(start: Int, end: Int)
        case number(UInt64?)
        case container(nonEmpty: Bool)
        case null
        case boolean
    }

    private mutating func value(depth: Int) -> Value? {
        guard depth < Self.maxDepth, index < bytes.count else { return nil }
        let result: Value
        switch bytes[index] {
        case UInt8(ascii: "{"):
            guard let nonEmpty = object(depth: depth) else { return nil }
            result = .container(nonEmpty: nonEmpty)
        case UInt8(ascii: "["):
            guard let nonEmpty = array(depth: depth) else { return nil }
            result = .container(nonEmpty: nonEmpty)
        case UInt8(ascii: "\""):
            guard let (start, end) = string() else { return nil }
            result = .string(start: start, end: end)
        case UInt8(ascii: "t"):
            guard literal("true") else { return nil }
            result = .boolean
        case UInt8(ascii: "f"):
            guard literal("false") else { return nil }
            result = .boolean
        case UInt8(ascii: "n"):
            guard literal("null") else { return nil }
            result = .null
        default:
            guard let number = number() else { return nil }
            result = .number(number)
        }
        noteValue(result)
        return result
    }

    /// Applies the rules to a value found at the current `path`.
    private mutating func noteValue(_ value: Value) {
        guard let last = path.last else { return }
        // Text is content only as a non-empty string; a tool call only as a non-empty array or
        // object; an error only as a non-empty object or string (`"error": false` is none).
        let nonEmptyText: Bool
        let nonEmptyStructure: Bool
        switch value {
        case .string(let start, let end):
            nonEmptyText = end > start
            nonEmptyStructure = end > start
        case .container(let hasElements):
            nonEmptyText = false
            nonEmptyStructure = hasElements
        case .number, .boolean, .null:
            nonEmptyText = false
            nonEmptyStructure = false
        }
        switch path.count {
        case 1:
            switch last {
            case .choices:
                fields.shaped = true
                fields.openAI = true
            case .error: if nonEmptyStructure { fields.error = true }
            case .object:
                if case .string(let start, let end) = value,
                    UnsafeRawBufferPointer(rebasing: bytes[start..<end]).elementsEqual("error".utf8)
                {
                    fields.error = true
                }
            case .textOutput:
                fields.shaped = true
                if nonEmptyText { fields.content = true }
            default: break
            }
        case 2:
            switch (path[0], last) {
            case (.choices, .text): if nonEmptyText { fields.content = true }
            case (.choices, .finishReason):
                if case .string(let start, let end) = value, end > start {
                    fields.finish = FinishReason.named(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                }
            case (.usage, .completionTokens): if case .number(let count?) = value { fields.completionTokens = count }
            case (.usage, .promptTokens): if case .number(let count?) = value { fields.promptTokens = count }
            default: break
            }
        case 3:
            guard path[0] == .choices, path[1] == .delta || path[1] == .message else { return }
            switch last {
            case .content, .reasoningContent, .reasoning:
                if nonEmptyText { fields.content = true }
            case .toolCalls, .functionCall:
                if nonEmptyStructure { fields.content = true }
            default: break
            }
        default: break
        }
    }

    private mutating func object(depth: Int) -> Bool? {
        index += 1
        skipSpace()
        if peek(UInt8(ascii: "}")) { return false }
        while true {
            guard peekByte == UInt8(ascii: "\""), let (start, end) = string() else { return nil }
            skipSpace()
            guard peek(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            let key = path.count < Self.maxDepth
                ? Key.named(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) : .other
            path.append(key)
            guard value(depth: depth + 1) != nil else { return nil }
            path.removeLast()
            skipSpace()
            if peek(UInt8(ascii: ",")) {
                skipSpace()
                continue
            }
            return peek(UInt8(ascii: "}")) ? true : nil
        }
    }

    private mutating func array(depth: Int) -> Bool? {
        index += 1
        skipSpace()
        if peek(UInt8(ascii: "]")) { return false }
        while true {
            // Elements stay under their array's key: `choices[0].delta` is (choices, delta).
            guard value(depth: depth + 1) != nil else { return nil }
            skipSpace()
            if peek(UInt8(ascii: ",")) {
                skipSpace()
                continue
            }
            return peek(UInt8(ascii: "]")) ? true : nil
        }
    }

    /// A string's contents as raw byte offsets (escapes left in); the index moves past its quote.
    private mutating func string() -> (Int, Int)? {
        index += 1
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                let end = index
                index += 1
                return (start, end)
            case UInt8(ascii: "\\"):
                index += 2
            case 0..<0x20:
                return nil
            default:
                index += 1
            }
        }
        return nil
    }

    /// A JSON number; its value when it is a non-negative integer below 2^50, else nil inside.
    private mutating func number() -> UInt64?? {
        let start = index
        var integer: UInt64? = 0
        if peekByte == UInt8(ascii: "-") {
            integer = nil
            index += 1
        }
        var digits = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            if let value = integer { integer = value < 1 << 50 ? value * 10 + UInt64(bytes[index] - 48) : nil }
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        // A fraction or exponent: a number, not a count.
        scan: while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                UInt8(ascii: "+"), UInt8(ascii: "-"):
                integer = nil
                index += 1
            default: break scan
            }
        }
        return index > start ? .some(integer) : nil
    }

    private mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count,
            text.withUTF8Buffer({ UnsafeRawBufferPointer(rebasing: bytes[index..<index + count]).elementsEqual(UnsafeRawBufferPointer($0)) })
        else { return false }
        index += count
        return true
    }

    private var peekByte: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// Consumes `byte` if it is next.
    private mutating func peek(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }
}
