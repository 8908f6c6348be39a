import Foundation

/// A line chart as inline SVG (no script, no external resource): one line per
/// series over shared x positions (bridging positions a series has no value at), a
/// linear or log10 y axis with labelled ticks, a legend, and a tooltip
/// (`<title>`) on every point.
struct SVGLineChart {
    struct Series {
        var name: String
        var values: [Double?]
    }

    var title: String
    var xLabels: [String]
    var yLabel: String
    var series: [Series]
    var logScale = false
    /// What the x positions number (their names are in the point tooltips and in a table beside the chart).
    var xTitle = "layer index (graph order)"
    var width = 780.0
    var height = 280.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                          "#7f7f7f", "#bcbd22"]

    func render() -> String {
        let (left, right, top, bottom) = (56.0, 150.0, 28.0, 34.0)
        let plotW = width - left - right, plotH = height - top - bottom
        let transform = { (v: Double) -> Double? in
            guard v.isFinite else { return nil }
            if logScale { return v > 0 ? log10(v) : nil }
            return v
        }
        let all = series.flatMap { $0.values.compactMap { $0.flatMap(transform) } }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\">"
        svg += "<text x=\"\(left)\" y=\"17\" class=\"ct\">\(html(title))</text>"
        guard var lo = all.min(), var hi = all.max(), xLabels.count > 0 else {
            return svg + "<text x=\"\(left)\" y=\"\(top + 30)\">no data</text></svg>"
        }
        if hi - lo < 1e-9 { lo -= 1; hi += 1 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        let x = { (i: Int) -> Double in left + (xLabels.count == 1 ? plotW / 2 : plotW * Double(i) / Double(xLabels.count - 1)) }
        let y = { (v: Double) -> Double in top + plotH * (1 - (v - lo) / (hi - lo)) }
        // Grid and y ticks.
        for tick in ticks(lo, hi) {
            let ty = y(tick)
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(f(ty))\" y2=\"\(f(ty))\" class=\"grid\"/>"
            let label = logScale ? (tick == tick.rounded() ? "1e\(Int(tick))" : String(format: "%.3g", pow(10, tick))) : String(format: "%g", tick)
            svg += "<text x=\"\(left - 6)\" y=\"\(f(ty + 4))\" text-anchor=\"end\" class=\"tick\">\(label)</text>"
        }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" class=\"frame\"/>"
        svg += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"tick\">\(html(yLabel))</text>"
        let step = max(1, xLabels.count / 12)
        for i in stride(from: 0, to: xLabels.count, by: step) {
            svg += "<text x=\"\(f(x(i)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\" class=\"tick\">\(i + 1)</text>"
        }
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\" class=\"tick\">\(html(xTitle))</text>"
        var legendY = top + 8
        for (k, s) in series.enumerated() {
            let color = Self.palette[k % Self.palette.count]
            // Layers a variant lacks (e.g. batch norms it folded) are bridged.
            var path = "", pen = false
            for (i, value) in s.values.enumerated() {
                guard let v = value.flatMap(transform) else { continue }
                path += (pen ? " L" : " M") + "\(f(x(i))) \(f(y(v)))"
                pen = true
            }
            svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"/>"
            for (i, value) in s.values.enumerated() {
                guard let raw = value, let v = transform(raw) else { continue }
                svg += "<circle cx=\"\(f(x(i)))\" cy=\"\(f(y(v)))\" r=\"2.4\" fill=\"\(color)\"><title>\(html(s.name)) · \(html(xLabels[i])): \(String(format: "%.3g", raw))</title></circle>"
            }
            // Series merged as "a = b = c" take a legend line per name.
            let names = s.name.components(separatedBy: " = ")
            svg += "<line x1=\"\(f(left + plotW + 12))\" x2=\"\(f(left + plotW + 30))\" y1=\"\(f(legendY))\" y2=\"\(f(legendY))\" stroke=\"\(color)\" stroke-width=\"3\"/>"
            for (j, name) in names.enumerated() {
                svg += "<text x=\"\(f(left + plotW + 35))\" y=\"\(f(legendY + 4 + Double(j) * 13))\" class=\"tick\">\(j > 0 ? "= " : "")\(html(name))</text>"
            }
            legendY += 17 + Double(names.count - 1) * 13
        }
        return svg + "</svg>"
    }

    /// About five round tick values in [lo, hi].
    func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        // A tick a rounding error away from zero is zero (never "-0" or "1e-17").
        return stride(from: (lo / step).rounded(.up) * step, through: hi, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }
}

/// Text escaped for HTML and SVG.
func html(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
