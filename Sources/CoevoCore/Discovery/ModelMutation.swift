import Foundation

/// The `evolve` runtime's model-written mutation (`mutation: model`), OpenEvolve's full
/// rewrite: the model sees the step's prompt (the task, the pool's best, its heartbeats)
/// and one file of the parent, and answers with the whole new file in a fenced block.
/// Pure: the prompt, and the reading of the reply.
public enum ModelMutation {
    public static let system = """
        You improve a program by rewriting one of its files. Reply with the complete new file \
        in a single fenced code block, and nothing after it.
        """

    public static func prompt(step: String, path: String, file: String) -> String {
        """
        \(step)

        Rewrite `\(path)` to score better. Its current text:
        ```
        \(file)
        ```
        Reply with the whole new `\(path)` in one fenced code block.
        """
    }

    /// The new file: the first complete fenced block of `reply`, with a final newline;
    /// nil when there is none (a reply cut off inside its block included) or it changes
    /// nothing.
    public static func rewrite(_ reply: String, of original: String) -> String? {
        let lines = reply.split(separator: "\n", omittingEmptySubsequences: false)
        guard let open = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("```") }),
              let close = lines[(open + 1)...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "```" })
        else { return nil }
        let body = lines[(open + 1)..<close].joined(separator: "\n") + "\n"
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed != original.trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        return body
    }
}
