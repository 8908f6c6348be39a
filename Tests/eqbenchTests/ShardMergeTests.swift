import Foundation
@testable import EqHarness
import XCTest

/// Running at scale: shards of the model × variant matrix merge into exactly
/// the unsharded report; custom pipelines from --config run, and a pipeline
/// that fails becomes error rows while the others finish.
final class ShardMergeTests: CLITestCase {
    /// The CSV with the columns that hold timings or memory blanked.
    func stable(_ folder: URL, _ name: String) throws -> String {
        let text = try String(contentsOf: folder.appendingPathComponent("\(name).csv"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(Self.fields)
        let drop = Set(lines[0].enumerated().filter { ["seconds", "images_per_s", "calib_seconds", "peak_rss_mb"].contains($0.element) }.map(\.offset))
        return lines.map { $0.enumerated().map { drop.contains($0.offset) ? "" : $0.element }.joined(separator: ",") }.joined(separator: "\n")
    }

    /// The fields of one CSV line (quoted fields may hold commas; no line breaks in these tables).
    static func fields(_ line: Substring) -> [String] {
        var fields = [String](), field = "", quoted = false
        for c in line {
            if c == "\"" { quoted.toggle(); field.append(c) }
            else if c == ",", !quoted { fields.append(field); field = "" }
            else { field.append(c) }
        }
        return fields + [field]
    }

    func testShardsMergeIntoTheUnshardedReport() throws {
        let common = ["--model", "Datasets/models/mlp.onnx", "--model", "Datasets/models/mlp_hard.onnx", "--eval", "60",
                      "--calib", "50", "--variants", "baseline,cls,bnfold+chaneq", "--precisions", "fp32,w8a8-pt", "--threads", "2"]
        let whole = scratch.appendingPathComponent("whole")
        XCTAssertEqual(try eqbench(arguments: ["run"] + common + ["--out", whole.path]).status, 0)
        var shards = [String]()
        for k in 1...4 {
            let folder = scratch.appendingPathComponent("shard\(k)")
            let result = try eqbench(arguments: ["run"] + common + ["--shard", "\(k)/4", "--out", folder.path])
            XCTAssertEqual(result.status, 0, result.err)
            shards.append(folder.path)
        }
        // Shard 1 holds pairs 0 and 4 of 6: (mlp, baseline) and (mlp_hard, cls).
        let first = try stable(URL(fileURLWithPath: shards[0]), "accuracy")
        XCTAssertTrue(first.contains("\nmlp,baseline,") && first.contains("\nmlp_hard,cls,"), first)
        XCTAssertFalse(first.contains("\nmlp,cls,"), first)
        let merged = scratch.appendingPathComponent("merged")
        let result = try eqbench(arguments: ["merge"] + shards.reversed() + ["--out", merged.path])
        XCTAssertEqual(result.status, 0, result.err)
        for name in ["accuracy", "layers", "passes", "coverage", "throughput", "recommendations"] {
            XCTAssertEqual(try stable(merged, name), try stable(whole, name), name)
        }
        let html = try String(contentsOf: merged.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("Recommendations"))
        XCTAssertFalse(html.contains("<script") || html.contains("http://") && !html.contains("http://www.w3.org/2000/svg"))

        let twice = try eqbench(arguments: ["merge", shards[0], shards[0], "--out", scratch.appendingPathComponent("bad").path])
        XCTAssertEqual(twice.status, 1)
        XCTAssertTrue(twice.err.contains("is in both"), twice.err)
        let partial = try eqbench(arguments: ["merge", shards[0], "--out", scratch.appendingPathComponent("partial").path])
        XCTAssertEqual(partial.status, 1, "one of two shards is not a whole report")
        XCTAssertTrue(partial.err.contains("shards 2/4, 3/4, 4/4 missing"), partial.err)
        let badShard = try eqbench(arguments: ["run", "--shard", "5/4"])
        XCTAssertNotEqual(badShard.status, 0)
        XCTAssertTrue(badShard.err.contains("--shard must be K/N"), badShard.err)
    }

    func testConfigPipelinesRunAndAFailingPipelineBecomesErrorRows() throws {
        let config = scratch.appendingPathComponent("variants.json")
        try """
            {"variants": [
              {"name": "sq25", "passes": ["bnfold", {"pass": "smoothquant", "alpha": 0.25}]},
              {"name": "wrong-sets", "passes": ["bnfold", {"pass": "cls", "sets": [["nope", "nada"]]}]}
            ]}
            """.write(to: config, atomically: true, encoding: .utf8)
        let out = scratch.appendingPathComponent("report")
        let result = try eqbench(arguments: ["run", "--model", "Datasets/models/mlp.onnx", "--eval", "40", "--calib", "40",
                                             "--precisions", "fp32,w8a8-pt", "--config", config.path, "--out", out.path])
        XCTAssertEqual(result.status, 1, "a failed variant makes the exit status 1")
        let accuracy = try stable(out, "accuracy")
        XCTAssertTrue(accuracy.contains("\nmlp,baseline,,fp32,"), accuracy)
        XCTAssertTrue(accuracy.contains("\nmlp,sq25,bnfold+smoothquant,w8a8-pt,"), accuracy)
        let failed = accuracy.split(separator: "\n").filter { $0.hasPrefix("mlp,wrong-sets,") }
        XCTAssertEqual(failed.count, 2)
        XCTAssertTrue(failed.allSatisfy { $0.contains(",error,") && $0.contains("not a scalable chain") }, "\(failed)")

        try #"{"variants": [{"name": "x", "passes": [{"pass": "cls", "iterations": 2}]}]}"#.write(to: config, atomically: true, encoding: .utf8)
        let bad = try eqbench(arguments: ["run", "--config", config.path, "--out", scratch.appendingPathComponent("none").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("\(config.path): variant 'x': unknown parameter 'iterations' of pass cls; valid: relu6"), bad.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("none").path))
    }

    func testSearchLogsEveryTriedPipelineAndKeepsOnlyImprovements() throws {
        let out = scratch.appendingPathComponent("search")
        let result = try eqbench(arguments: ["run", "--model", "Datasets/models/mlp_hard.onnx", "--eval", "100", "--calib", "300",
                                             "--variants", "baseline", "--precisions", "w8a8-pt", "--search", "60", "--out", out.path])
        XCTAssertEqual(result.status, 0, result.err)
        let rows = try String(contentsOf: out.appendingPathComponent("search.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map(Self.fields)
        XCTAssertEqual(rows.first?[3], "(none)")
        XCTAssertEqual(rows.first?[7], "yes")
        // Round 1 tries every first pass; the kept ones form a chain of growing pipelines with rising top-1.
        XCTAssertEqual(rows.filter { $0[2] == "1" }.count, 8, "every candidate but hbf, which needs bnfold first")
        // Trials are scored on the held-out half of calib/, never on test/; the
        // last row is the winner graded on test/ as the variant `search`, which
        // accuracy.csv holds and the recommendation weighs.
        let trials = rows.dropLast()
        XCTAssertTrue(trials.allSatisfy { $0[10].hasPrefix("calib held-out half") }, "\(trials.map { $0[10] })")
        let final = try XCTUnwrap(rows.last)
        XCTAssertEqual(final[10], "test (variant search)")
        let accuracy = try CSVTable.parse(String(contentsOf: out.appendingPathComponent("accuracy.csv"), encoding: .utf8))
        let graded = try XCTUnwrap(accuracy.records.first { $0["variant"] == "search" })
        XCTAssertEqual(graded["passes"], final[3])
        XCTAssertEqual(graded["top1"], final[4])
        let recommended = try CSVTable.parse(String(contentsOf: out.appendingPathComponent("recommendations.csv"), encoding: .utf8))
        XCTAssertEqual(recommended.records.first?["best_variant"], "search", "the winner beats baseline, the only named variant")
        let kept = trials.filter { $0[7] == "yes" }
        XCTAssertEqual(final[3], kept.last![3], "the winner is what the search kept last")
        XCTAssertGreaterThan(kept.count, 1, "cls rescues mlp_hard at w8a8-pt")
        for (a, b) in zip(kept, kept.dropFirst()) {
            XCTAssertTrue(b[3].hasPrefix(a[3] == "(none)" ? "" : a[3] + "+"), "\(a[3]) → \(b[3])")
            XCTAssertGreaterThanOrEqual(Double(b[4])!, Double(a[4])!)
        }
        XCTAssertTrue(kept.last![3].contains("cls"), "\(kept.last!)")
        let noInt8 = try eqbench(arguments: ["run", "--precisions", "fp32", "--search", "5", "--out", scratch.appendingPathComponent("x").path])
        XCTAssertNotEqual(noInt8.status, 0)
        XCTAssertTrue(noInt8.err.contains("--search needs an int8 precision"), noInt8.err)
    }

    /// Passes that observe activations get the calibration images even when
    /// every precision is fp32 (they used to crash with none loaded).
    func testDataDrivenPassesRunInAFloatOnlyRun() throws {
        let out = scratch.appendingPathComponent("float")
        let result = try eqbench(arguments: ["run", "--model", "Datasets/models/resnet.onnx", "--eval", "20", "--calib", "20",
                                             "--variants", "baseline,chaneq,smoothquant,iwe,dfq+bc", "--precisions", "fp32", "--out", out.path])
        XCTAssertEqual(result.status, 0, result.err)
        let rows = try stable(out, "accuracy").split(separator: "\n").dropFirst()
        XCTAssertEqual(rows.count, 5)
        XCTAssertTrue(rows.allSatisfy { $0.contains(",ok,") }, "\(rows)")
    }

    func testBenchWritesThroughputAndPassTables() throws {
        let out = scratch.appendingPathComponent("bench")
        let result = try eqbench(arguments: ["bench", "Datasets/models/mlp.onnx", "--batches", "1,8", "--threads", "1",
                                             "--variants", "cls", "--images", "16", "--repeats", "1", "--int8", "integer", "--out", out.path])
        XCTAssertEqual(result.status, 0, result.err)
        let throughput = try stable(out, "throughput").split(separator: "\n")
        XCTAssertEqual(throughput.first, "model,variant,precision,batch,threads,images,,,engine,int8_path")
        XCTAssertEqual(throughput.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).enumerated()
                           .filter { [0, 1, 2, 3, 4, 8, 9].contains($0.offset) }.map(\.element).joined(separator: ",") },
                       ["mlp,cls,fp32,1,1,native,", "mlp,cls,fp32,8,1,native,",
                        "mlp,cls,w8a8-pt,1,1,native,integer 3/3", "mlp,cls,w8a8-pt,8,1,native,integer 3/3"])
        let passes = try stable(out, "passes").split(separator: "\n").dropFirst()
        XCTAssertEqual(passes.map { $0.split(separator: ",")[2] }, ["bnfold", "cls"])
        // One profile per precision: the three Gemms (each ReLU fused into
        // the one before it; Flatten is a view), with their share of the time.
        let kernels = try String(contentsOf: out.appendingPathComponent("kernels.csv"), encoding: .utf8)
            .split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(kernels.first, ["model", "variant", "precision", "step", "nodes", "kernel", "output_shape",
                                       "us_per_image", "share", "gflops"])
        let rows = kernels.dropFirst()
        XCTAssertEqual(rows.map { $0[2] + " " + $0[4] }, ["fp32 /fc1/Gemm+/Relu", "fp32 /fc2/Gemm+/Relu_1", "fp32 /fc3/Gemm",
                                                          "w8a8-pt /fc1/Gemm+/Relu", "w8a8-pt /fc2/Gemm+/Relu_1", "w8a8-pt /fc3/Gemm"])
        // --int8 integer: the int8 Gemms ran on the integer kernels.
        XCTAssertTrue(rows.allSatisfy { $0[5] == ($0[2] == "fp32" ? "linear" : "linear int8") && Double($0[7])! > 0 && Double($0[9])! > 0 },
                      "\(rows)")
        for precision in ["fp32", "w8a8-pt"] {
            let shares = rows.filter { $0[2] == precision }.map { Double($0[8])! }
            XCTAssertEqual(shares.reduce(0, +), 1, accuracy: 0.001)
        }
        // The reference engine: OpenBLAS's sgemm for the Gemms, recorded in throughput.csv and kernels.csv.
        let blasOut = scratch.appendingPathComponent("bench-blas")
        let blas = try eqbench(arguments: ["bench", "Datasets/models/mlp.onnx", "--batches", "8", "--threads", "1", "--precisions", "fp32",
                                           "--images", "16", "--repeats", "1", "--engine", "openblas", "--out", blasOut.path])
        XCTAssertEqual(blas.status, 0, blas.err)
        XCTAssertTrue(try stable(blasOut, "throughput").contains("mlp,baseline,fp32,8,1,16,,,openblas"))
        XCTAssertTrue(try String(contentsOf: blasOut.appendingPathComponent("kernels.csv"), encoding: .utf8).contains(",linear sgemm,"))
        let engine = try eqbench(arguments: ["bench", "--engine", "mkl"])
        XCTAssertEqual(engine.status, 64)
        XCTAssertTrue(engine.err.contains("--engine must be native or openblas"), engine.err)
        let bad = try eqbench(arguments: ["bench", "--batches", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--batches must be comma-separated positive integers"), bad.err)
    }
}
