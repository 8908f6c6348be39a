import EqPasses

/// Plain-text tables for the terminal: columns padded to their widest cell,
/// numbers right-aligned.
public enum TextTable {
    public static func render(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func isNumeric(_ s: String) -> Bool {
            !s.isEmpty && Double(s.replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "±", with: "")) != nil
        }
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

extension ReportFolder {
    /// The accuracy table as `eqbench run` prints it: one row per model and
    /// variant, one column per precision with top-1 and, for int8, the change
    /// against baseline; then the recommendations.
    public var summaryText: String {
        var precisions = [String]()
        var lines = [(model: String, variant: String)]()
        var seen = Set<String>()
        for r in accuracy {
            if !precisions.contains(r.precision) { precisions.append(r.precision) }
            if seen.insert(r.model + "|" + r.variant).inserted { lines.append((r.model, r.variant)) }
        }
        let byKey = Dictionary(accuracy.map { ($0.model + "|" + $0.variant + "|" + $0.precision, $0) }, uniquingKeysWith: { a, _ in a })
        let table = lines.map { model, variant -> [String] in
            [model, variant] + precisions.map { precision in
                guard let r = byKey[model + "|" + variant + "|" + precision] else { return "" }
                guard r.status == .ok else { return RowStatus.error.rawValue }
                let delta = r.top1DeltaVsBaselineInt8.map { " (\(signedPoints($0)))" }
                return fixed(r.top1, 2) + (variant == Variant.baselineName ? "" : delta ?? "")
            }
        }
        var text = "top-1 % (quantized precisions: change against baseline at the same precision)\n"
            + TextTable.render(["model", "variant"] + precisions, table)
        let recommendations = self.recommendations
        if !recommendations.isEmpty {
            text += "\n\nrecommended (cheapest at inference, then fewest passes, among variants the same images cannot tell from the best"
                + " (paired McNemar test, p ≥ 0.05) and within \(String(format: "%.2g", maxDrop)) points of float)\n"
            text += TextTable.render(["model", "precision", "variant", "top1 %", "vs float", "vs baseline", "best"], recommendations.map { r in
                [r.model, r.precision, r.variant + (r.floatTop1 != nil && !r.withinMaxDrop ? " (!)" : ""), fixed(r.top1, 2),
                 r.floatTop1.map { signedPoints(r.top1 - $0) } ?? "", r.marginVsBaseline.map(signedPoints) ?? "",
                 r.best + " " + fixed(r.bestTop1, 2)]
            })
            for r in recommendations where r.floatTop1 != nil && !r.withinMaxDrop {
                text += String(format: "\n(!) %@ %@: no variant is within %.2g points of float (%.2f)", r.model, r.precision, r.maxDrop, r.floatTop1!)
            }
        }
        return text
    }
}
