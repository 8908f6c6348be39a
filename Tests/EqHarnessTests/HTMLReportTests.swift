@testable import EqHarness
import XCTest

/// What report.html shows without hovering: merged identical series, cells
/// coloured only where the paired test sees a difference, named worst layers,
/// passes once, and the export command to run next.
final class HTMLReportTests: XCTestCase {
    func folder() -> ReportFolder {
        var report = RunReport()
        let n = 400
        func outcomes(wrong: Range<Int>) -> [Bool] { (0..<n).map { !wrong.contains($0) } }
        // baseline wrong on 0..<40; cls wrong on 0..<38 (2 images apart: not significant); dfq wrong on 0..<10 (significant).
        for (variant, passes, wrong) in [("baseline", [String](), 0..<40), ("cls", ["bnfold", "cls"], 0..<38), ("dfq", ["bnfold", "cls", "hbf"], 0..<10)] {
            var record = AccuracyRecord(model: "m", variant: variant, precision: "w8a8-pt", weights: "", activations: "")
            record.passes = passes
            record.evalImages = n
            record.calibImages = 50
            record.correct = outcomes(wrong: wrong)
            record.top1 = 100 * Double(record.correct.filter { $0 }.count) / Double(n)
            record.top1CI = (record.top1! - 2, record.top1! + 2)
            report.accuracy.append(record)
            for (node, local) in [("conv1", 30.0), ("conv2", variant == "baseline" ? 4.0 : 20.0)] {
                report.layers.append(LayerRecord(model: "m", variant: variant, precision: "w8a8-pt", node: node, op: "Conv", outChannels: 8,
                                                 sqnrCumulative: local, sqnrLocal: local, weightRangeRatio: variant == "baseline" ? 50 : 2,
                                                 activationRange: nil))
            }
            for precision in ["fp32", "w8a8-pt"] where variant != "baseline" {
                report.passes.append(PassRecord(model: "m", variant: variant, pass: "bnfold", setsFound: 2, setsScaled: 2, scaleRange: nil,
                                                seconds: 0.001, floatMaxAbsDiff: 0, precision: precision, details: "2 folded"))
                report.passes.append(PassRecord(model: "m", variant: variant, pass: "relu6relu", setsFound: 0, setsScaled: 0, scaleRange: nil,
                                                seconds: 0.001, floatMaxAbsDiff: 0, precision: precision, details: ""))
            }
        }
        return ReportFolder(report: report, settings: .object(["models": .array([.string("/data/my models/m.onnx")]), "dataset": .string("/data/set")]))
    }

    func testReportIsReadableWithoutHovering() {
        let folder = folder()
        let page = HTMLReport(folder: folder, recommendations: folder.recommendations).render()
        // cls and dfq have the same per-layer values: one line, one legend entry.
        XCTAssertTrue(page.contains("<th>cls = dfq dB</th>"), "merged series in the worst-layers table")
        XCTAssertTrue(page.contains("= dfq</text>"), "merged legend")
        // Worst layer by name, with its index on the charts' axis.
        XCTAssertTrue(page.contains("<tr><td>2</td><td class=l>conv2</td>"), "worst layer named")
        // cls is 0.5 points better on 2 images only: neutral; dfq is coloured.
        XCTAssertTrue(page.contains("<td class=cell style=\"background:#ffffff\"><b>90.50</b>"), "cls neutral")
        XCTAssertFalse(page.contains("<td class=cell style=\"background:#ffffff\"><b>97.50</b>"), "dfq coloured")
        XCTAssertTrue(page.contains("[88.50–92.50]"), "interval printed in the cell")
        // Header counts what was measured.
        XCTAssertTrue(page.contains("400 evaluation images · 50 calibration images"))
        // Passes once each; the idle pass in one line.
        XCTAssertEqual(page.components(separatedBy: "<td class=l>bnfold</td>").count - 1, 2, "one row per variant")
        XCTAssertTrue(page.contains("Found nothing to do: relu6relu (cls, dfq)."))
        XCTAssertFalse(page.contains("@fp32"))
        // What next: the export command, the model path quoted for the shell.
        XCTAssertTrue(page.contains("eqbench export &#39;/data/my models/m.onnx&#39;") || page.contains("eqbench export '/data/my models/m.onnx'"), "export command")
        XCTAssertFalse(page.contains(">-0<"), "no negative zero tick")
    }

    func testTicksNeverReadNegativeZero() {
        let chart = SVGLineChart(title: "t", xLabels: ["a", "b"], yLabel: "y", series: [.init(name: "s", values: [-0.3, 0.7])])
        XCTAssertTrue(chart.ticks(-0.35, 0.75).contains(0))
        XCTAssertFalse(chart.render().contains(">-0<"))
    }
}
