import Foundation

/// A sequential judge's state as both stores keep it: sorted JSON text, with the infinities an
/// e-process may hold spelled out (JSON has no number for them).
public enum JudgeSnapshotText {
    public static func encode(_ snapshot: SequentialJudge.Snapshot) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(snapshot), as: UTF8.self)
    }

    /// The state `text` holds; nil when this build cannot read it (then a fresh judge starts).
    public static func decode(_ text: String) -> SequentialJudge.Snapshot? {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan")
        return try? decoder.decode(SequentialJudge.Snapshot.self, from: Data(text.utf8))
    }
}
