import Foundation

/// One OpenAI-style generation of the demo model: how many tokens, why it stops, whether it is
/// streamed or cut — drawn from the server's `DemoModelBehavior` and the request — and the JSON of
/// each chunk, in the shapes vLLM and OpenAI send.
struct DemoGeneration {
    let chat: Bool
    let stream: Bool
    let includeUsage: Bool
    let model: String
    let version: String
    let tokens: Int
    let finishReason: String
    let promptTokens: Int
    /// The server closes the connection before this token (a cut stream).
    var cutAfter: Int?
    private let id: String
    private let createdAt: Int?

    init(request: [String: Any], chat: Bool, behavior: DemoModelBehavior, random: inout SystemRandomNumberGenerator) {
        self.chat = chat
        stream = request["stream"] as? Bool ?? false
        includeUsage = (request["stream_options"] as? [String: Any])?["include_usage"] as? Bool ?? false
        model = request["model"] as? String ?? "demo"
        version = behavior.version
        let limit = (request["max_completion_tokens"] as? Int) ?? (request["max_tokens"] as? Int)
        var tokens = max(behavior.outputTokens, 1)
        var finish = "stop"
        if behavior.lengthRate > 0 && Double.random(in: 0..<1, using: &random) < behavior.lengthRate {
            finish = "length"
        }
        if let limit, limit >= 1, limit < tokens {
            tokens = limit
            finish = "length"
        }
        self.tokens = tokens
        finishReason = finish
        let prompt = chat ? (request["messages"] as? [Any])?.description ?? "" : request["prompt"] as? String ?? ""
        promptTokens = max(1, prompt.split(separator: " ").count)
        if stream, behavior.streamCutRate > 0, Double.random(in: 0..<1, using: &random) < behavior.streamCutRate {
            cutAfter = tokens / 2
        }
        // A seeded request (OpenAI's `seed`) is answered byte for byte the same each time.
        if let seed = request["seed"] as? Int {
            id = "cmpl-demo-\(seed)"
            createdAt = 1_700_000_000 + seed
        } else {
            id = "cmpl-demo-\(UInt32.random(in: 0...UInt32.max, using: &random))"
            createdAt = nil
        }
    }

    private var object: String { chat ? "chat.completion" : "text_completion" }
    private var created: Int { createdAt ?? Int(Date().timeIntervalSince1970) }

    static func word(_ index: Int) -> String { "tok\(index) " }

    private var usage: String {
        "{\"prompt_tokens\":\(promptTokens),\"completion_tokens\":\(tokens),\"total_tokens\":\(promptTokens + tokens)}"
    }

    /// A streamed chunk: the role chunk, token `token`'s text, or the finish chunk.
    func chunk(role: Bool = false, token: Int? = nil, finish: Bool = false) -> String {
        let text = token.map(Self.word) ?? ""
        let finishText = finish ? "\"\(finishReason)\"" : "null"
        let choice: String
        if chat {
            let delta = role ? "{\"role\":\"assistant\",\"content\":\"\"}" : finish ? "{}" : "{\"content\":\"\(text)\"}"
            choice = "{\"index\":0,\"delta\":\(delta),\"logprobs\":null,\"finish_reason\":\(finishText)}"
        } else {
            choice = "{\"index\":0,\"text\":\"\(text)\",\"logprobs\":null,\"finish_reason\":\(finishText)}"
        }
        return
            "{\"id\":\"\(id)\",\"object\":\"\(object)\(chat ? ".chunk" : "")\",\"created\":\(created),\"model\":\"\(model)\",\"system_fingerprint\":\"\(version)\",\"choices\":[\(choice)]}"
    }

    /// The last chunk when the request asked `stream_options.include_usage`: no choices, the usage.
    func usageChunk() -> String {
        "{\"id\":\"\(id)\",\"object\":\"\(object)\(chat ? ".chunk" : "")\",\"created\":\(created),\"model\":\"\(model)\",\"choices\":[],\"usage\":\(usage)}"
    }

    /// The whole answer of an unstreamed request.
    func completion() -> String {
        let text = (0..<tokens).map(Self.word).joined()
        let choice =
            chat
            ? "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\(text)\"},\"logprobs\":null,\"finish_reason\":\"\(finishReason)\"}"
            : "{\"index\":0,\"text\":\"\(text)\",\"logprobs\":null,\"finish_reason\":\"\(finishReason)\"}"
        return
            "{\"id\":\"\(id)\",\"object\":\"\(object)\",\"created\":\(created),\"model\":\"\(model)\",\"system_fingerprint\":\"\(version)\",\"choices\":[\(choice)],\"usage\":\(usage)}"
    }
}
