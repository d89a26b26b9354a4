import Foundation

/// A heat map of one figure over two parameters, as a self-contained SVG: each cell
/// coloured by its value (blue above 0, red below, white at 0), the value written in it,
/// bold where its 95% interval excludes 0.
public enum PhaseDiagram {
    public struct Cell: Hashable, Sendable {
        public var x: Double
        public var y: Double
        public var value: Double
        public var significant: Bool
        public init(x: Double, y: Double, value: Double, significant: Bool) {
            self.x = x
            self.y = y
            self.value = value
            self.significant = significant
        }
    }

    public static func svg(_ cells: [Cell], title: String, xLabel: String, yLabel: String) -> String {
        let xs = Array(Set(cells.map(\.x))).sorted(), ys = Array(Set(cells.map(\.y))).sorted()
        let size = 72.0, left = 90.0, top = 50.0
        let width = left + size * Double(xs.count) + 30, height = top + size * Double(ys.count) + 70
        let scale = max(0.001, cells.map { abs($0.value) }.max() ?? 0.001)
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <text x="\(left)" y="24" font-size="14">\(escape(title))</text>

            """
        for cell in cells {
            let column = Double(xs.firstIndex(of: cell.x)!), row = Double(ys.count - 1 - ys.firstIndex(of: cell.y)!)
            let x = left + column * size, y = top + row * size
            out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(size)\" height=\"\(size)\" fill=\"\(color(cell.value / scale))\" stroke=\"#fff\"/>\n"
            out += "<text x=\"\(x + size / 2)\" y=\"\(y + size / 2 + 4)\" text-anchor=\"middle\"\(cell.significant ? " font-weight=\"bold\"" : "")>"
                + String(format: "%+.3f", cell.value) + "</text>\n"
        }
        for (i, x) in xs.enumerated() {
            out += "<text x=\"\(left + (Double(i) + 0.5) * size)\" y=\"\(top + size * Double(ys.count) + 18)\" text-anchor=\"middle\">"
                + String(format: "%g", x) + "</text>\n"
        }
        for (i, y) in ys.enumerated() {
            out += "<text x=\"\(left - 8)\" y=\"\(top + (Double(ys.count - 1 - i) + 0.5) * size + 4)\" text-anchor=\"end\">"
                + String(format: "%g", y) + "</text>\n"
        }
        out += "<text x=\"\(left + size * Double(xs.count) / 2)\" y=\"\(height - 16)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text transform=\"translate(20 \(top + size * Double(ys.count) / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        return out + "</svg>\n"
    }

    /// White at 0, towards blue at +1 and red at -1.
    static func color(_ t: Double) -> String {
        let t = max(-1, min(1, t))
        let fade = Int((1 - abs(t)) * 255)
        return t >= 0 ? String(format: "#%02x%02xff", fade, fade) : String(format: "#ff%02x%02x", fade, fade)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
