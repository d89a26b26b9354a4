import Foundation

/// How proposer and solver replies are read. The format asked for is documented in the
/// prompts (and docs/EXPERIMENTS.md); reading is lenient about decoration (markdown,
/// case, a trailing "= answer") because small models add it, strict about content.
public enum ReplyFormat {
    /// A proposer's reply: a `TASK:` line, optionally an `ANSWER:` line (the proposer's
    /// own answer, kept for the export; the label is always computed).
    public static func proposal(_ reply: String) -> Result<(task: ArithmeticTask, claimed: String?), FormatFailure> {
        let lines = reply.split(whereSeparator: \.isNewline).map { cleaned(String($0)) }
        guard let taskLine = lines.first(where: { $0.lowercased().hasPrefix("task:") }) else {
            return .failure(FormatFailure("no 'TASK:' line"))
        }
        let body = String(taskLine.dropFirst(5)).trimmingCharacters(in: .whitespaces)
        var claimed = lines.first(where: { $0.lowercased().hasPrefix("answer:") }).map {
            String($0.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        switch ArithmeticTask.parse(body) {
        case .failure(let failure):
            return .failure(failure)
        case .success(let task):
            if claimed == nil, !task.isEquation, let equals = body.lastIndex(of: "=") {
                claimed = String(body[body.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            }
            return .success((task, claimed?.isEmpty == true ? nil : claimed))
        }
    }

    /// A solver's final answer: the text after the last `ANSWER:`, else after the last
    /// "answer is", else the last `x = ...` value, else the last number in the reply.
    public static func finalAnswer(_ reply: String) -> String? {
        let text = reply.replacingOccurrences(of: "*", with: "")
        let lower = text.lowercased()
        for marker in ["answer:", "answer is"] {
            if let line = line(after: marker, in: text), let number = lastNumber(in: line, first: true) { return number }
        }
        if let range = lower.range(of: "x =", options: .backwards) ?? lower.range(of: "x=", options: .backwards) {
            let offset = lower.distance(from: lower.startIndex, to: range.upperBound)
            if let number = lastNumber(in: String(text[text.index(text.startIndex, offsetBy: offset)...]), first: true) {
                return number
            }
        }
        return lastNumber(in: text, first: false)
    }

    /// The first non-empty line of text after the last `marker` (matched ignoring case),
    /// or nil when the marker is not there.
    static func line(after marker: String, in text: String) -> String? {
        let lower = text.lowercased()
        guard let range = lower.range(of: marker, options: .backwards) else { return nil }
        let offset = lower.distance(from: lower.startIndex, to: range.upperBound)
        let rest = text[text.index(text.startIndex, offsetBy: offset)...]
        // The marker may end its line ("ANSWER: \n42"): skip to the first line with text.
        return rest.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
    }

    /// The last (or first) number in the text: an optional minus, digits, an optional
    /// decimal part or `/denominator`.
    static func lastNumber(in text: String, first: Bool) -> String? {
        let chars = Array(text)
        var found: String?
        var i = 0
        while i < chars.count {
            guard chars[i].isASCII, chars[i].isNumber else { i += 1; continue }
            var start = i
            if start > 0, chars[start - 1] == "-" { start -= 1 }
            var end = i
            while end < chars.count, chars[end].isASCII, chars[end].isNumber { end += 1 }
            if end + 1 < chars.count, chars[end] == "." || chars[end] == "/", chars[end + 1].isASCII, chars[end + 1].isNumber {
                end += 1
                while end < chars.count, chars[end].isASCII, chars[end].isNumber { end += 1 }
            }
            found = String(chars[start..<end])
            if first { return found }
            i = end
        }
        return found
    }

    /// The text after `marker` on every line that has it (matched ignoring case, markdown
    /// dropped), as `note`s: at most `limit`. Strict on purpose: what a marked line says
    /// is shown in later prompts, and a reply without markers is mostly chatter.
    static func markedLines(_ marker: String, in reply: String, limit: Int) -> [String] {
        let marked = reply.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let line = cleaned(String(line))
            guard let range = line.range(of: marker, options: .caseInsensitive) else { return nil }
            return String(line[range.upperBound...])
        }
        return Array(marked.compactMap(note).prefix(limit))
    }

    /// A note a prompt will show: whitespace off, at most 240 characters; nil when no
    /// letter is left.
    static func note(_ text: String) -> String? {
        let text = text.trimmingCharacters(in: .whitespaces)
        return text.contains { $0.isLetter } ? String(text.prefix(240)) : nil
    }

    /// Drops markdown decoration and list bullets around a line.
    static func cleaned(_ line: String) -> String {
        var t = line.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "__", with: "")
        t = t.trimmingCharacters(in: .whitespaces)
        while let first = t.first, "-#>".contains(first) { t.removeFirst(); t = t.trimmingCharacters(in: .whitespaces) }
        return t
    }
}
