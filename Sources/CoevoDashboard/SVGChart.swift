import Foundation

/// The charts of the dashboard and the report as inline SVG, drawn on the server so that
/// the live page and the static file show the same pictures from one renderer, with no
/// script library and nothing fetched from a CDN.
enum SVGChart {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// The opening tag of a chart: its size, and a view box so that CSS can scale it
    /// down to a narrow page.
    static func open(_ kind: String, width: Double, height: Double, label: String) -> String {
        "<svg class=\"\(kind)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(label))\">"
    }

    /// Width a 12 px title or a 10 px label of `text` takes, near enough.
    static func textWidth(_ text: String, size: Double = 12) -> Double { Double(text.count) * size * 0.62 }

    /// Lines over rounds (or steps, or evaluations), one colour per series, with a legend;
    /// the x axis spans `chart.xSpan` (the planned rounds) where the run says it.
    static func lines(_ chart: RunFigures.Chart, width minimum: Double = 520, height: Double = 240) -> String {
        let (left, right, top, bottom) = (48.0, 12.0, 24.0, 36.0)
        let points = chart.series.flatMap(\.points)
        guard !points.isEmpty else { return "" }
        let legend = chart.series.reduce(0.0) { $0 + 24 + Double($1.name.count) * 6.5 }
        let width = max(minimum, left + textWidth(chart.title) + right, left + legend + right)
        let xs = points.map { $0[0] } + (chart.xSpan ?? []), ys = points.map { $0[1] }
        let (x0, x1) = (xs.min()!, max(xs.max()!, xs.min()! + 1))
        var (y0, y1) = (chart.fromZero ? min(0, ys.min()!) : ys.min()!, ys.max()!)
        if y1 - y0 < 1e-9 { (y0, y1) = chart.fromZero ? (y0, y0 + 1) : (y0 - 0.5, y1 + 0.5) }
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotH }
        var svg = open("chart", width: width, height: height, label: chart.title)
        svg += "<text x=\"\(left)\" y=\"15\" class=\"title\">\(HTML.escape(chart.title))</text>"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(top + plotH)\" stroke=\"#888\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotH)\" stroke=\"#888\"/>"
        for tick in 0...4 {
            let y = y0 + (y1 - y0) * Double(tick) / 4
            svg += "<text x=\"\(left - 4)\" y=\(quote(py(y) + 4)) text-anchor=\"end\" class=\"tick\">\(number(y))</text>"
        }
        svg += "<text x=\"\(left)\" y=\"\(height - 18)\" class=\"tick\">\(number(x0))</text>"
        svg += "<text x=\"\(left + plotW)\" y=\"\(height - 18)\" text-anchor=\"end\" class=\"tick\">\(number(x1))</text>"
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 18)\" text-anchor=\"middle\" class=\"tick\">\(HTML.escape(chart.x))</text>"
        var legendX = left
        for (index, series) in chart.series.enumerated() where !series.points.isEmpty {
            let colour = palette[index % palette.count]
            let path = series.points.map { "\(fmt(px($0[0]))),\(fmt(py($0[1])))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(path)\"/>"
            if series.points.count <= 60 {
                for point in series.points {
                    svg += "<circle cx=\(quote(px(point[0]))) cy=\(quote(py(point[1]))) r=\"2\" fill=\"\(colour)\"><title>\(HTML.escape(series.name)) \(number(point[0])): \(number(point[1]))</title></circle>"
                }
            }
            svg += "<rect x=\(quote(legendX)) y=\"\(height - 12)\" width=\"10\" height=\"10\" fill=\"\(colour)\"/>"
            svg += "<text x=\(quote(legendX + 14)) y=\"\(height - 3)\" class=\"tick\">\(HTML.escape(series.name))</text>"
            legendX += 24 + Double(series.name.count) * 6.5
        }
        return svg + "</svg>"
    }

    /// A matrix of values as coloured cells (competence 0...1, or counts scaled to the
    /// largest); each cell carries its row, column and value as data attributes.
    /// `rowLink`: where a row's label leads (an agent's words), if anywhere.
    static func matrix(title: String, rows: [String], columns: [String], values: [[Double?]], cellClass: String,
                       scaleToMax: Bool = false, rowLink: ((String) -> String)? = nil) -> String {
        guard !rows.isEmpty, !columns.isEmpty else { return "" }
        // Column labels stand at 45 degrees: a label of n characters reaches about 0.45 n
        // em up and as far right of its column.
        let label = Double(min(24, columns.map(\.count).max()!)) * 10 * 0.62 * 0.72
        let cell = 28.0, left = 8 + Double(rows.map(\.count).max()!) * 7, top = 30 + label
        let width = max(left + Double(columns.count) * cell + label + 8, 8 + textWidth(title) + 8)
        let height = top + Double(rows.count) * cell + 8
        let largest = scaleToMax ? max(1e-9, values.flatMap { $0.compactMap { $0 } }.max() ?? 1) : 1
        var svg = open("matrix", width: width, height: height, label: title)
        svg += "<text x=\"8\" y=\"15\" class=\"title\">\(HTML.escape(title))</text>"
        for (c, column) in columns.enumerated() {
            let x = left + Double(c) * cell + cell / 2
            svg += "<text transform=\"translate(\(fmt(x)),\(fmt(top - 4))) rotate(-45)\" class=\"tick\">\(HTML.escape(String(column.prefix(24))))</text>"
        }
        for (r, row) in rows.enumerated() {
            let y = top + Double(r) * cell
            let label = "<text x=\(quote(left - 4)) y=\(quote(y + cell / 2 + 4)) text-anchor=\"end\" class=\"tick\">\(HTML.escape(row))</text>"
            svg += rowLink.map { "<a class=\"words\" href=\"\(HTML.escape($0(row)))\">\(label)</a>" } ?? label
            for (c, column) in columns.enumerated() {
                let value = values[r][c]
                let fill = value.map { heat($0 / largest) } ?? "#eee"
                let shown = value.map { scaleToMax ? String(Int($0)) : String(format: "%.2f", $0) } ?? ""
                svg += "<g class=\"\(cellClass)\" data-row=\"\(HTML.escape(row))\" data-column=\"\(HTML.escape(column))\" data-value=\"\(shown)\">"
                svg += "<rect x=\(quote(left + Double(c) * cell)) y=\(quote(y)) width=\"\(Int(cell - 1))\" height=\"\(Int(cell - 1))\" fill=\"\(fill)\"><title>\(HTML.escape(row)) / \(HTML.escape(column)): \(shown.isEmpty ? "no attempt" : shown)</title></rect>"
                if !shown.isEmpty {
                    svg += "<text x=\(quote(left + Double(c) * cell + cell / 2)) y=\(quote(y + cell / 2 + 3)) text-anchor=\"middle\" class=\"cell\">\(scaleToMax ? shown : String(shown.dropFirst(shown.hasPrefix("0") ? 1 : 0)))</text>"
                }
                svg += "</g>"
            }
        }
        return svg + "</svg>"
    }

    /// The lineage tree: agents placed by the round they were made at, an edge from each
    /// parent; the shape says how it came to be, the colour whether it is still active.
    /// `link`: where a node leads (its agent's words), if anywhere.
    static func lineage(_ nodes: [RunFigures.LineageNode], link: ((RunFigures.LineageNode) -> String)? = nil) -> String {
        guard !nodes.isEmpty else { return "" }
        let columns = Dictionary(grouping: nodes, by: \.born)
        let order = columns.keys.sorted()
        // Many rounds share a page's width (names then only in each node's tooltip); a
        // 60-step chamber was one row 4,120 px wide.
        let columnWidth = max(14, min(70, 1080 / Double(order.count))), labelled = columnWidth >= 50
        let rowHeight = 22.0, top = 28.0, left = 30.0
        var position: [String: (x: Double, y: Double)] = [:]
        for (c, born) in order.enumerated() {
            for (r, node) in columns[born]!.enumerated() {
                position[node.id] = (left + Double(c) * columnWidth, top + Double(r) * rowHeight)
            }
        }
        let height = top + Double(columns.values.map(\.count).max()!) * rowHeight + 10
        let pool = nodes[0].pool
        let title = "\(pool) lineage (column: the round it was made)"
        let width = max(left + Double(order.count) * columnWidth + (labelled ? 30 : 10), 8 + textWidth(title) + 8)
        var svg = open("lineage", width: width, height: height, label: "\(pool) lineage")
        svg += "<text x=\"8\" y=\"15\" class=\"title\">\(HTML.escape(title))</text>"
        for node in nodes {
            let to = position[node.id]!
            for parent in node.parents {
                guard let from = position[parent] else { continue }
                let dash = node.origin == "merge" ? " stroke-dasharray=\"3,2\"" : ""
                svg += "<line x1=\(quote(from.x)) y1=\(quote(from.y)) x2=\(quote(to.x)) y2=\(quote(to.y)) stroke=\"#999\"\(dash)/>"
            }
        }
        for node in nodes {
            let at = position[node.id]!
            // Agents: active, merged, pruned; attempts: improved, baseline, the rest.
            let colour = switch node.status {
            case "active", "improved": "#2ca02c"
            case "merged": "#9467bd"
            case "baseline": "#1f77b4"
            default: "#bbb"
            }
            let shape = switch node.origin {
            case "fork": "<rect x=\(quote(at.x - 5)) y=\(quote(at.y - 5)) width=\"10\" height=\"10\" fill=\"\(colour)\"/>"
            case "seed": "<polygon points=\"\(fmt(at.x)),\(fmt(at.y - 6)) \(fmt(at.x + 6)),\(fmt(at.y + 5)) \(fmt(at.x - 6)),\(fmt(at.y + 5))\" fill=\"\(colour)\"/>"
            default: "<circle cx=\(quote(at.x)) cy=\(quote(at.y)) r=\"5\" fill=\"\(colour)\"/>"
            }
            if let link { svg += "<a class=\"words\" href=\"\(HTML.escape(link(node)))\">" }
            svg += "<g class=\"lineage-node\" data-agent=\"\(HTML.escape(node.id))\" data-origin=\"\(node.origin)\" data-status=\"\(node.status)\">"
            svg += shape + (labelled ? "<text x=\(quote(at.x + 8)) y=\(quote(at.y + 4)) class=\"tick\">\(HTML.escape(node.id))</text>" : "")
            svg += "<title>\(HTML.escape(node.id)): \(node.origin) at \(node.born) from \(HTML.escape(node.parents.joined(separator: ", ")).isEmpty ? "-" : HTML.escape(node.parents.joined(separator: ", "))), \(node.status)</title></g>"
            if link != nil { svg += "</a>" }
        }
        return svg + "</svg>"
    }

    /// White to dark blue.
    static func heat(_ value: Double) -> String {
        let v = max(0, min(1, value))
        let r = Int(247 - v * 200), g = Int(251 - v * 150), b = Int(255 - v * 80)
        return String(format: "#%02x%02x%02x", r, g, b)
    }

    static func number(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e9 { return String(Int(value)) }
        return abs(value) >= 100 ? String(format: "%.0f", value) : abs(value) >= 1 ? String(format: "%.2f", value) : String(format: "%.3f", value)
    }

    static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
    static func quote(_ value: Double) -> String { "\"\(fmt(value))\"" }
}

enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
