/// Plain-text tables for the terminal: columns padded to their widest cell,
/// numbers right-aligned.
public enum TextTable {
    public static func render(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func isNumeric(_ s: String) -> Bool { !s.isEmpty && Double(s.replacingOccurrences(of: "%", with: "")) != nil }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return isNumeric(cell) ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(headers), rule] + rows.map(line)).joined(separator: "\n")
    }
}

extension RunReport {
    /// The accuracy table as `eqbench run` prints it.
    public var summaryTable: String {
        let speed = Dictionary(throughput.map { ("\($0.model)|\($0.variant)|\($0.precision)", $0.imagesPerSecond) },
                               uniquingKeysWith: { a, _ in a })
        let rows = accuracy.map { r -> [String] in
            let key = "\(r.model)|\(r.variant)|\(r.precision)"
            let interval = r.top1CI.map { fixed($0.low, 1) + "–" + fixed($0.high, 1) } ?? ""
            return [r.model, r.variant, r.precision, fixed(r.top1, 2), interval, fixed(r.top5, 2),
                    fixed(speed[key], 0), r.status == "ok" ? "ok" : "error: " + r.message]
        }
        return TextTable.render(["model", "variant", "precision", "top1 %", "95% CI", "top5 %", "images/s", "status"], rows)
    }
}
