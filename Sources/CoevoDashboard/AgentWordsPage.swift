import Foundation

/// The dashboard's page of a run's agents' words: every model call's prompt and reply,
/// filtered by agent, role, round and phase with links, each call a row carrying its
/// figures as `data-*` attributes.
extension ReportPage {
    static func wordsLink(_ run: String) -> String {
        "<a class=\"words-link\" href=\"\(HTML.escape(wordsURL(run)))\">What the agents said</a>"
    }

    /// The words page of a run (relative to the dashboard's root), one agent's when given.
    static func wordsURL(_ run: String, agent: String? = nil, role: String? = nil, round: Int? = nil) -> String {
        let path = "runs/\(run.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? run)/words"
        return path + AgentWords.Filter(agent: agent, role: role, round: round).query
    }

    public static func wordsDocument(_ words: AgentWords) -> String {
        let run = HTML.escape(words.run)
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(run): what the agents said</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>\(style)\(wordsStyle)</style></head>
            <body><header><h1>What the agents said</h1><span><a href="../../">dashboard</a> · run \(run)</span></header>
            """
        html += "<nav class=\"filters\">"
        html += choices("agent", words.agents, words.filter) { var f = $0; f.agent = $1; return f }
        html += choices("role", words.roles, words.filter) { var f = $0; f.role = $1; return f }
        html += choices("round", words.rounds.map(String.init), words.filter) { var f = $0; f.round = $1.flatMap(Int.init); return f }
        html += choices("phase", words.phases, words.filter) { var f = $0; f.phase = $1; return f }
        html += "</nav><p data-figure=\"matching\">\(words.matching) call(s)\(words.calls.count < words.matching ? ", the first \(words.calls.count) shown" : "")</p>"
        for call in words.calls {
            html += "<article class=\"call\" data-job=\"\(call.job)\" data-agent=\"\(HTML.escape(call.agent ?? ""))\" "
                + "data-role=\"\(HTML.escape(call.role ?? ""))\" data-round=\"\(call.round.map(String.init) ?? "")\" "
                + "data-phase=\"\(HTML.escape(call.phase ?? ""))\" data-status=\"\(call.status)\">"
            html += "<h3>\(HTML.escape(call.agent ?? "?")) (\(HTML.escape(call.role ?? "?"))), round \(call.round.map(String.init) ?? "?") "
                + "\(HTML.escape(call.phase ?? "")) <code>\(HTML.escape(call.key ?? ""))</code> · \(call.status) · \(call.tokens) tokens</h3>"
            if !call.system.isEmpty { html += "<details><summary>system</summary><pre class=\"system\">\(HTML.escape(call.system))</pre></details>" }
            html += "<pre class=\"prompt\">\(HTML.escape(call.prompt))</pre>"
            if let reply = call.reply { html += "<pre class=\"reply\">\(HTML.escape(reply))</pre>" }
            if let step = call.step {
                html += "<p class=\"step\">\(HTML.escape(step.exit))\(step.message.isEmpty ? "" : "; submitted: " + HTML.escape(step.message))</p>"
                if !step.diff.isEmpty { html += "<details><summary>diff</summary><pre class=\"diff\">\(HTML.escape(step.diff))</pre></details>" }
                for note in step.notes { html += "<details><summary>note</summary><pre class=\"note\">\(HTML.escape(note))</pre></details>" }
                if let feedback = step.feedback {
                    let score = step.score.map { String(format: "%.6g", $0) } ?? "no score"
                    html += "<details open><summary>grader (\(score))</summary><pre class=\"feedback\">\(HTML.escape(feedback))</pre></details>"
                }
            }
            if let error = call.error { html += "<pre class=\"error\">\(HTML.escape(error))</pre>" }
            html += "</article>"
        }
        return html + "</body></html>"
    }

    /// "agent: all · a1 · a2": each a link to the same page with that value chosen.
    private static func choices(_ name: String, _ values: [String], _ filter: AgentWords.Filter,
                                _ set: (AgentWords.Filter, String?) -> AgentWords.Filter) -> String {
        guard !values.isEmpty else { return "" }
        let links = ([nil] + values.map { Optional($0) }).map { value in
            let chosen = set(filter, value) == filter
            return "<a class=\"choice\(chosen ? " chosen" : "")\" data-\(name)=\"\(HTML.escape(value ?? ""))\" "
                + "href=\"words\(HTML.escape(set(filter, value).query))\">\(HTML.escape(value ?? "all"))</a>"
        }
        return "<p>\(name): " + links.joined(separator: " · ") + "</p>"
    }

    static let wordsStyle = """
        .call{border-top:1px solid #ddd;padding:.3em 0}.call h3{font-size:.95em;margin:.4em 0}
        pre{white-space:pre-wrap;word-break:break-word;margin:.2em 0;padding:.4em;background:#f6f6f6;max-width:100%}
        pre.reply{background:#eef6ee}pre.error{background:#fbeaea}.choice.chosen{font-weight:bold;text-decoration:none}
        """
}
