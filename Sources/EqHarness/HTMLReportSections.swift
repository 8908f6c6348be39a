import Foundation

extension HTMLReport {
    /// The `--sensitivity` sweep of a model: per precision, the layers that
    /// hurt most when quantized alone and those whose float copy helps most,
    /// by name, beside the float and fully quantized references.
    func sensitivitySection(_ model: String, count: Int = 10) -> String {
        let rows = sensitivityByModel[model] ?? []
        guard !rows.isEmpty else { return "" }
        var out = ""
        for key in unique(rows.map { $0.variant + "|" + $0.precision }) {
            let group = rows.filter { $0.variant + "|" + $0.precision == key }
            let (variant, precision) = (group[0].variant, group[0].precision)
            let reference = { (mode: String) in fixed(group.first { $0.mode == mode }?.top1, 2) }
            out += "<h3>Layer sensitivity of \(html(variant)) at \(html(precision)) (\(group[0].evalImages) images: float \(reference(SensitivityRecord.float))%, all quantized \(reference(SensitivityRecord.allQuantized))%)</h3>\n"
            out += "<table><tr><th>rank</th><th class=l>quantized alone (rest float)</th><th>top-1 %</th><th>vs float</th><th>logits SQNR dB</th>"
            out += "<th class=l>kept in float (rest quantized)</th><th>top-1 %</th><th>vs all quantized</th><th>logits SQNR dB</th></tr>\n"
            func ranked(_ mode: String) -> [SensitivityRecord] {
                group.filter { $0.mode == mode }.sorted { ($0.rank ?? 0) < ($1.rank ?? 0) }
            }
            let alone = ranked(SensitivityRecord.onlyQuantized), kept = ranked(SensitivityRecord.onlyFloat)
            for i in 0..<min(count, max(alone.count, kept.count)) {
                out += "<tr><td>\(i + 1)</td>"
                for (row, deltaClass) in [(i < alone.count ? alone[i] : nil, "bad"), (i < kept.count ? kept[i] : nil, "good")] {
                    guard let row else { out += "<td></td><td></td><td></td><td></td>"; continue }
                    let delta = row.top1Delta ?? 0
                    out += "<td class=l>\(html(row.node)) <span class=d>\(html(row.op))</span></td><td>\(fixed(row.top1, 2))</td>"
                    out += "<td class=\"\(abs(delta) >= 1 ? deltaClass : "")\">\(signed(delta))</td><td>\(fixed(row.logitsSQNR, 2))</td>"
                }
                out += "</tr>\n"
            }
            out += "</table>\n"
        }
        return out
    }

    /// What to do with the result: the export command of each recommendation,
    /// and where the tables are.
    func nextStepsSection() -> String {
        let s = folder.settings
        let paths = (s["models"]?.array ?? []).compactMap(\.string)
        let keys = (try? ModelSource.keys(for: paths.map { URL(fileURLWithPath: $0) })) ?? []
        let dataset = s["dataset"]?.string ?? "DATASET"
        var out = "<h2>What next</h2>\n"
        if !recommendations.isEmpty {
            out += "<p>Write what was measured as deployable files (equalized float ONNX, QDQ ONNX, encodings), one command per recommended variant:</p>\n<pre>"
            // One command per model and variant, with every precision it is recommended at.
            var grouped = [(r: Recommendation, precisions: [String])]()
            for r in recommendations {
                if let k = grouped.firstIndex(where: { $0.r.model == r.model && $0.r.variant == r.variant }) { grouped[k].precisions.append(r.precision) } else { grouped.append((r, [r.precision])) }
            }
            for (r, precisions) in grouped {
                let path = zip(paths, keys).first { $0.1 == r.model }?.0 ?? r.model + ".onnx"
                // The search winner is no named variant: its pass tokens as a `+` combination.
                let winner = r.variant == PipelineSearch.winnerName ? searchByModel[r.model]?.last?.pipelineName : nil
                var command = "eqbench export \(shellQuoted(path)) --variant \(shellQuoted(winner ?? r.variant)) --precision \(precisions.joined(separator: ",")) --dataset \(shellQuoted(dataset)) --out exported"
                if let kept = s["float_layers"]?.array?.compactMap(\.string), !kept.isEmpty {
                    command += " --float-layers \(shellQuoted(kept.joined(separator: ",")))"
                }
                out += html(command) + "\n"
            }
            out += "</pre>\n<p>or add <code>--export-recommended DIR</code> to the run. <code>scripts/check_export.py</code> runs the files in ONNX Runtime beside accuracy.csv.</p>\n"
        }
        out += "<p>The numbers behind this page: accuracy.csv, recommendations.csv, layers.csv, sensitivity.csv, passes.csv, coverage.csv, throughput.csv, search.csv and summary.json in this folder; <code>eqbench compare OLD NEW</code> checks a later run against this one.</p>\n"
        return out
    }

    /// A word as a POSIX shell reads it: unchanged when it is plain, else in single quotes.
    func shellQuoted(_ word: String) -> String {
        let plain = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_./=,+@:"))
        guard !word.isEmpty, word.unicodeScalars.allSatisfy(plain.contains) else {
            return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        return word
    }
}
