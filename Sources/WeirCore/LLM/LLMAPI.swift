/// The streaming LLM API a route serves (`route.llm`), so weir measures time to first token,
/// tokens and finish reasons on every response of it (CONTRACT §10).
public enum LLMAPI: String, Sendable, Hashable, CaseIterable {
    /// OpenAI-compatible `/v1/chat/completions` and `/v1/completions` (vLLM, TGI, llama.cpp,
    /// Ollama, Triton's OpenAI frontend): SSE chunks with `choices`, `usage`, `finish_reason`.
    case openai
    /// KServe / Triton `generate_stream`: SSE events with `text_output`.
    case kserve
}
