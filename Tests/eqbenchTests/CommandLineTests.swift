import Foundation
@testable import EqHarness
import XCTest

/// The `eqbench` executable as a user runs it: bad inputs give one clear error
/// line naming the file or flag and a non-zero exit, and no report is left
/// half-written.
final class CommandLineTests: CLITestCase {
    func testUnknownFlagAndUnknownVariantAreNamed() throws {
        let flag = try eqbench("run", "--bogus")
        XCTAssertNotEqual(flag.status, 0)
        XCTAssertTrue(flag.err.contains("Unknown option '--bogus'"), flag.err)
        let variant = try eqbench("run", "--variants", "baseline,magic")
        XCTAssertNotEqual(variant.status, 0)
        XCTAssertTrue(variant.err.contains("--variants: unknown variant or pass 'magic'; variants: baseline, bnfold, cls"), variant.err)
        let precision = try eqbench("run", "--precisions", "fp32,w8a8-xx")
        XCTAssertNotEqual(precision.status, 0)
        XCTAssertTrue(precision.err.contains("precision 'w8a8-xx'"), precision.err)
    }

    func testMissingDatasetFolderIsAnErrorAndWritesNothing() throws {
        let out = scratch.appendingPathComponent("report")
        let result = try eqbench("run", "--dataset", "/nonexistent/data", "--out", out.path)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("/nonexistent/data/test: dataset folder not found"), result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    /// A bare `eqbench` prints help instead of starting the two-minute matrix;
    /// a negative number is read as the flag's value and then refused by name.
    func testBareCommandPrintsHelpAndNegativeNumbersAreValues() throws {
        let bare = try eqbench()
        XCTAssertEqual(bare.status, 0)
        XCTAssertTrue(bare.out.contains("SUBCOMMANDS") && bare.out.contains("run"), bare.out)
        let help = try eqbench("run", "--help")
        XCTAssertTrue(help.out.split(separator: "\n").prefix(8).contains { $0.hasPrefix("USAGE:") }, "usage first: \(help.out)")
        let passes = try eqbench("passes")
        XCTAssertEqual(passes.status, 0)
        XCTAssertTrue(passes.out.contains("hbf: high-bias fold") && passes.out.contains("needs folded batch-norm statistics (bnfold) earlier"), passes.out)
        let typo = try eqbench("inpsect", "m.onnx")
        XCTAssertEqual(typo.status, 64)
        XCTAssertTrue(typo.err.contains("unknown subcommand 'inpsect'; did you mean 'inspect'?"), typo.err)
        for (flag, message) in [("--eval", "--eval must be at least 1, got -5"), ("--threads", "--threads must be from 1 to"),
                                ("--analysis-images", "--analysis-images must be 0 (all) or more, got -5")] {
            let result = try eqbench("run", flag, "-5")
            XCTAssertEqual(result.status, 64, flag)
            XCTAssertTrue(result.err.contains(message), "\(flag): \(result.err)")
        }
    }

    /// An --out that cannot be written, or a --model that does not exist, is a
    /// usage error (64) before any image is read.
    func testUnwritableOutAndMissingModelFailBeforeAnyWork() throws {
        let file = scratch.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        let readOnly = scratch.appendingPathComponent("read-only")
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: readOnly.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: readOnly.path) }
        var cases = [(file.path, "exists and is not a folder"), ("/dev/null", "exists and is not a folder"),
                     (file.appendingPathComponent("sub").path, "is not a folder"), ("", "--out is empty")]
        // root writes into a read-only folder anyway, so that case only means something for other users
        if getuid() != 0 { cases.append((readOnly.appendingPathComponent("report").path, "is not writable")) }
        for (out, message) in cases {
            let result = try eqbench("run", "--out", out)
            XCTAssertEqual(result.status, 64, out)
            XCTAssertTrue(result.err.contains(message), "\(out): \(result.err)")
            XCTAssertFalse(result.err.contains("dataset"), "\(out): work started before the check")
        }
        for (arguments, message) in [(["run", "--search", "inf"], "--search must be a number of seconds above 0"),
                                     (["run", "--threads", "100000"], "--threads must be from 1 to"),
                                     (["bench", "--images", "4611686018427387904"], "--images must be from 1 to 1000000"),
                                     (["bench", "--threads", "1,100000"], "--threads must be at most"),
                                     (["run", "--model", "Datasets/models/mlp.onnx", "--mean", "0.1,0.2"], "mlp.onnx: --mean: give one value or 1 (one per channel), not 2"),
                                     (["export", "Datasets/models/mlp.onnx", "--variant", "cls", "--out", scratch.path, "--std", "1,1,1"], "--std: give one value or 1")] {
            let result = try eqbench(arguments: arguments)
            XCTAssertEqual(result.status, 64, "\(arguments)")
            XCTAssertTrue(result.err.contains(message), "\(arguments): \(result.err)")
        }
        let model = try eqbench("run", "--model", "Datasets/models/nope.onnx")
        XCTAssertEqual(model.status, 64)
        XCTAssertTrue(model.err.contains("--model Datasets/models/nope.onnx: no such file"), model.err)
    }

    func testTextFileNamedONNXAndTruncatedModelAreClearErrors() throws {
        let text = scratch.appendingPathComponent("readme.onnx")
        try "not a model\n".write(to: text, atomically: true, encoding: .utf8)
        let inspect = try eqbench("inspect", text.path)
        XCTAssertNotEqual(inspect.status, 0)
        XCTAssertTrue(inspect.err.contains("\(text.path): not a valid ONNX model"), inspect.err)

        let model = try Data(contentsOf: Self.root.appendingPathComponent("Datasets/models/mlp.onnx"))
        let truncated = scratch.appendingPathComponent("truncated.onnx")
        try model.prefix(model.count / 3).write(to: truncated)
        let out = scratch.appendingPathComponent("report")
        let run = try eqbench("run", "--model", truncated.path, "--eval", "10", "--variants", "baseline", "--precisions", "fp32", "--out", out.path)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.err.contains(truncated.path), run.err)
        // The report is complete: the model is an error row, not a missing file.
        let csv = try String(contentsOf: out.appendingPathComponent("accuracy.csv"), encoding: .utf8)
        XCTAssertTrue(csv.contains("truncated,baseline,,fp32"), csv)
        XCTAssertTrue(csv.contains(",error,"), csv)
    }

    func testCorruptImageInDatasetNamesTheFile() throws {
        let split = scratch.appendingPathComponent("data/test")
        try FileManager.default.createDirectory(at: split.appendingPathComponent("a"), withIntermediateDirectories: true)
        try "a\n".write(to: split.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0]).write(to: split.appendingPathComponent("a/0.png"))
        let out = scratch.appendingPathComponent("r")
        let result = try eqbench("run", "--model", "Datasets/models/mlp.onnx", "--dataset", split.deletingLastPathComponent().path,
                                 "--variants", "baseline", "--precisions", "fp32", "--out", out.path)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("a/0.png: corrupt or unsupported image"), result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("accuracy.csv").path))

        // A corrupt calibration image, met inside a pass or a calibration, stops the run the same way.
        let calib = split.deletingLastPathComponent().appendingPathComponent("calib")
        try FileManager.default.createDirectory(at: calib.appendingPathComponent("a"), withIntermediateDirectories: true)
        try "a\n".write(to: calib.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
        try Data([0xFF, 0xD8, 0xFF, 0, 1]).write(to: calib.appendingPathComponent("a/9.jpg"))
        try FileManager.default.removeItem(at: split.appendingPathComponent("a/0.png"))
        try FileManager.default.copyItem(atPath: "Datasets/fashion-mnist/test/Bag/00018.png", toPath: split.appendingPathComponent("a/0.png").path)
        for variants in ["baseline", "chaneq"] {
            let calibrated = try eqbench("run", "--model", "Datasets/models/mlp.onnx", "--dataset", split.deletingLastPathComponent().path,
                                         "--variants", variants, "--precisions", "w8a8-pt", "--out", out.path)
            XCTAssertNotEqual(calibrated.status, 0)
            XCTAssertTrue(calibrated.err.contains("a/9.jpg: corrupt or unsupported image"), calibrated.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("accuracy.csv").path), variants)
        }
    }

    /// JPEGs beside PNGs are read; other files are a counted warning in the log and summary.json.
    func testJPEGsAreReadAndStrayFilesAreCounted() throws {
        let data = scratch.appendingPathComponent("data")
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("EqDataTests/Fixtures")
        let split = data.appendingPathComponent("test")
        try FileManager.default.createDirectory(at: split.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: split.appendingPathComponent("b"), withIntermediateDirectories: true)
        try "a\nb\n".write(to: split.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("rgb.jpg"), to: split.appendingPathComponent("a/0.JPG"))
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("gray8.png"), to: split.appendingPathComponent("b/1.png"))
        try "x".write(to: split.appendingPathComponent("b/readme.txt"), atomically: true, encoding: .utf8)
        let out = scratch.appendingPathComponent("r")
        let result = try eqbench("run", "--model", "Datasets/models/mlp.onnx", "--dataset", data.path, "--resize", "32", "--crop", "28",
                                 "--variants", "baseline", "--precisions", "fp32", "--out", out.path)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.err.contains("2 test images"), result.err)
        XCTAssertTrue(result.err.contains("1 file is not .png, .jpg or .jpeg and not used (e.g. b/readme.txt)"), result.err)
        let summary = try String(contentsOf: out.appendingPathComponent("summary.json"), encoding: .utf8)
        XCTAssertTrue(summary.contains("b/readme.txt"), summary)
        XCTAssertTrue(summary.contains("\"resize\" : 32"), summary)
        // A crop that is not the model's input is refused, naming the flag.
        let wrong = try eqbench("run", "--model", "Datasets/models/mlp.onnx", "--dataset", data.path, "--resize", "32", "--crop", "24",
                                "--variants", "baseline", "--precisions", "fp32", "--out", scratch.appendingPathComponent("r2").path)
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.err.contains("--crop 24 does not match the model's 28×28 input"), wrong.err)
    }

    func testRunWritesAccuracyTableForARealModel() throws {
        let out = scratch.appendingPathComponent("report")
        let result = try eqbench("run", "--model", "Datasets/models/mlp.onnx", "--eval", "50", "--calib", "40",
                                 "--variants", "baseline", "--threads", "2", "--out", out.path)
        XCTAssertEqual(result.status, 0, result.err)
        let table = try String(contentsOf: out.appendingPathComponent("accuracy.csv"), encoding: .utf8)
        let lines = table.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines[0].hasPrefix("model,variant,passes,precision"))
        XCTAssertTrue(lines[1].hasPrefix("mlp,baseline,,fp32,fp32,fp32,0,50,"), String(lines[1]))
        XCTAssertTrue(lines[2].hasPrefix("mlp,baseline,,w8a8-pt,int8 sym per-tensor minmax,uint8 asym per-tensor minmax,40,50,"), String(lines[2]))
        XCTAssertTrue(lines[3].hasPrefix("mlp,baseline,,w8a8-pc,int8 sym per-channel minmax,"), String(lines[3]))
        let layers = try String(contentsOf: out.appendingPathComponent("layers.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(layers.count, 1 + 2 * 6)   // per precision: input, 3 Gemm, 2 Relu
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as? [String: Any]
        XCTAssertEqual((summary?["accuracy"] as? [[String: Any]])?.count, 3)
        XCTAssertEqual((summary?["accuracy"] as? [[String: Any]])?.first?["top1"] as? Double, Double(lines[1].split(separator: ",", omittingEmptySubsequences: false)[8]))
        XCTAssertNotNil(summary?["machine"])
        XCTAssertTrue(result.out.contains("w8a8-pc"), result.out)
    }

    /// `--sensitivity` sweeps every layer both ways and ranks them;
    /// `--float-layers` keeps a layer in float (and is checked before any
    /// work); `--max-drop` reaches the recommendation and summary.json.
    func testSensitivitySweepFloatLayersAndMaxDrop() throws {
        let out = scratch.appendingPathComponent("sensitivity")
        let result = try eqbench("run", "--model", "Datasets/models/mlp_hard.onnx", "--eval", "200", "--calib", "100",
                                 "--variants", "baseline,cls", "--precisions", "w8a8-pt", "--sensitivity", "baseline",
                                 "--analysis-images", "100", "--max-drop", "0.5", "--out", out.path)
        XCTAssertEqual(result.status, 0, result.err)
        let rows = try CSVTable.parse(String(contentsOf: out.appendingPathComponent("sensitivity.csv"), encoding: .utf8)).records
        // float and all_quantized, then 3 Gemm layers × 2 modes, baseline only.
        XCTAssertEqual(rows.count, 2 + 3 * 2)
        XCTAssertEqual(Set(rows.map { $0["variant"]! }), ["baseline"])
        XCTAssertEqual(rows.filter { $0["mode"] == "only_this_quantized" }.compactMap { Int($0["rank"]!) }.sorted(), [1, 2, 3])
        XCTAssertTrue(rows.allSatisfy { $0["eval_images"] == "100" })
        let all = try XCTUnwrap(rows.first { $0["mode"] == "all_quantized" })
        let worst = try XCTUnwrap(rows.first { $0["mode"] == "only_this_quantized" && $0["rank"] == "1" })
        let best = rows.filter { $0["mode"] == "only_this_quantized" }.map { Double($0["top1"]!)! }.max()!
        XCTAssertLessThanOrEqual(Double(worst["top1"]!)!, best)
        // Keeping a layer in float is measured against the fully quantized model.
        for row in rows where row["mode"] == "only_this_float" {
            XCTAssertEqual(Double(row["top1_delta"]!)!, Double(row["top1"]!)! - Double(all["top1"]!)!, accuracy: 0.011)
        }
        let page = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("Layer sensitivity of baseline at w8a8-pt"), "report section")
        XCTAssertTrue(page.contains("eqbench export ") && page.contains("mlp_hard.onnx --variant"), "what next")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as? [String: Any]
        XCTAssertEqual((summary?["settings"] as? [String: Any])?["max_drop"] as? Double, 0.5)
        XCTAssertEqual((summary?["recommendations"] as? [[String: Any]])?.first?["max_drop"] as? Double, 0.5)

        // The layer the sweep ranks first, kept in float, gives what the sweep measured for it.
        let kept = scratch.appendingPathComponent("kept")
        let keepRun = try eqbench("run", "--model", "Datasets/models/mlp_hard.onnx", "--eval", "100", "--calib", "100",
                                  "--variants", "baseline", "--precisions", "w8a8-pt", "--float-layers", worst["node"]!, "--out", kept.path)
        XCTAssertEqual(keepRun.status, 0, keepRun.err)
        let keptRow = try XCTUnwrap(CSVTable.parse(String(contentsOf: kept.appendingPathComponent("accuracy.csv"), encoding: .utf8)).records.last)
        let sweptRow = try XCTUnwrap(rows.first { $0["mode"] == "only_this_float" && $0["node"] == worst["node"] })
        XCTAssertEqual(keptRow["top1"], sweptRow["top1"], "same images (the first 100), same encodings")

        for (arguments, message) in [(["--float-layers", "nope"], "--float-layers: "), (["--max-drop", "-1"], "--max-drop must be"),
                                     (["--sensitivity", "dfq", "--variants", "baseline"], "--sensitivity dfq: not one of this run's variants")] {
            let bad = try eqbench(arguments: ["run", "--model", "Datasets/models/mlp_hard.onnx", "--out", scratch.appendingPathComponent("bad").path] + arguments)
            XCTAssertEqual(bad.status, 64, "\(arguments)")
            XCTAssertTrue(bad.err.contains(message), "\(arguments): \(bad.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("bad").path))
        }
    }

    /// `export` on the bundled MLP with int32 biases (whose first layer reads a
    /// Flatten of the quantized input): the four files, AIMET-style encodings;
    /// what QDQ cannot hold is refused by flag or by tensor.
    func testExportWritesModelsAndEncodingsAndRefusesNarrowActivations() throws {
        let out = scratch.appendingPathComponent("deploy")
        let result = try eqbench("export", "Datasets/models/mlp.onnx", "--variant", "baseline", "--precision", "w8a8-pt-b32",
                                 "--calib", "40", "--threads", "2", "--out", out.path)
        XCTAssertEqual(result.status, 0, result.err)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertEqual(files, ["mlp-baseline-w8a8-pt-b32.encodings.json", "mlp-baseline-w8a8-pt-b32.qdq.onnx",
                               "mlp-baseline.json", "mlp-baseline.onnx"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent(files[0]))) as? [String: Any]
        let parameters = json?["param_encodings"] as? [String: [[String: Any]]] ?? [:]
        XCTAssertEqual(parameters.keys.filter { $0.hasSuffix(".weight") }.count, 3)
        XCTAssertEqual(parameters.keys.filter { $0.hasSuffix(".bias") }.count, 3)
        for (name, entries) in parameters where name.hasSuffix(".weight") {
            XCTAssertEqual(entries.count, 1, "per tensor: one encoding")
            XCTAssertEqual(entries[0]["offset"] as? Double, -128)
            XCTAssertEqual(entries[0]["is_symmetric"] as? String, "True")
            let scale = entries[0]["scale"] as? Double ?? 0
            XCTAssertEqual(entries[0]["max"] as? Double ?? 0, 127 * scale, accuracy: 1e-6 * 127 * scale)
        }
        let activations = json?["activation_encodings"] as? [String: [[String: Any]]] ?? [:]
        XCTAssertFalse(activations.isEmpty)
        for entries in activations.values {
            let e = entries[0], scale = e["scale"] as? Double ?? 0, offset = e["offset"] as? Double ?? 1
            XCTAssertTrue((-255...0).contains(offset), "uint8 zero points give offsets −255…0")
            XCTAssertEqual(e["min"] as? Double ?? 0, offset * scale, accuracy: 1e-6 * 255 * scale)
        }
        // The exported float model evaluates again as eqbench measured it.
        let again = try eqbench("run", "--model", out.appendingPathComponent("mlp-baseline.onnx").path, "--eval", "20",
                                "--variants", "baseline", "--precisions", "fp32", "--out", scratch.appendingPathComponent("again").path)
        XCTAssertEqual(again.status, 0, again.err)

        let narrow = try eqbench("export", "Datasets/models/mlp.onnx", "--variant", "baseline", "--precision", "w8a4-pt",
                                 "--calib", "10", "--out", scratch.appendingPathComponent("narrow").path)
        XCTAssertEqual(narrow.status, 1)
        XCTAssertTrue(narrow.err.contains("8-bit activations (a8)"), narrow.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("narrow/mlp-baseline.onnx").path),
                       "nothing is written when a file cannot be")
        let float = try eqbench("export", "Datasets/models/mlp.onnx", "--variant", "baseline", "--precision", "fp32", "--out", out.path)
        XCTAssertEqual(float.status, 64)
        XCTAssertTrue(float.err.contains("--precision fp32"), float.err)
        let codes = try eqbench("export", "Datasets/models/mlp.onnx", "--variant", "baseline", "--weight-codes", "int4", "--out", out.path)
        XCTAssertEqual(codes.status, 64)
        XCTAssertTrue(codes.err.contains("--weight-codes"), codes.err)
    }

    /// Two models with the same file name get keys that tell them apart, each
    /// compared with its own baseline; the same file twice is an error.
    func testModelsWithTheSameFileNameGetDistinctKeys() throws {
        let other = scratch.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("Datasets/models/mlp_hard.onnx"), to: other.appendingPathComponent("mlp.onnx"))
        let out = scratch.appendingPathComponent("clash")
        let run = try eqbench("run", "--model", "Datasets/models/mlp.onnx", "--model", other.appendingPathComponent("mlp.onnx").path,
                              "--eval", "100", "--calib", "50", "--variants", "baseline,cls", "--precisions", "fp32,w8a8-pt", "--out", out.path)
        XCTAssertEqual(run.status, 0, run.err)
        let rows = try CSVTable.parse(String(contentsOf: out.appendingPathComponent("accuracy.csv"), encoding: .utf8)).records
        XCTAssertEqual(Set(rows.map { $0["model"]! }), ["models/mlp", "other/mlp"])
        for model in ["models/mlp", "other/mlp"] {
            let mine = rows.filter { $0["model"] == model }
            let base = try XCTUnwrap(mine.first { $0["variant"] == "baseline" && $0["precision"] == "w8a8-pt" })
            let cls = try XCTUnwrap(mine.first { $0["variant"] == "cls" && $0["precision"] == "w8a8-pt" })
            XCTAssertEqual(Double(cls["top1_delta_vs_baseline_int8"]!)!, Double(cls["top1"]!)! - Double(base["top1"]!)!, accuracy: 0.006)
        }
        let twice = try eqbench("run", "--model", "Datasets/models/mlp.onnx", "--model", "Datasets/models/../models/mlp.onnx",
                                "--out", scratch.appendingPathComponent("twice").path)
        XCTAssertNotEqual(twice.status, 0)
        XCTAssertTrue(twice.err.contains("is given twice"), twice.err)
        XCTAssertEqual(try ModelSource.keys(for: ["/a/x/m.onnx", "/b/x/m.onnx", "/c/n.onnx"].map { URL(fileURLWithPath: $0) }),
                       ["a/x/m", "b/x/m", "n"])
    }

    /// Every committed fuzz seed, and every input that once crashed a fuzz
    /// target (Fuzz/corpus/<target>/crash-*), parses to an error or a result.
    func testFuzzCorpusReplaysWithoutACrash() throws {
        for target in ["onnx", "png", "jpeg", "idx", "config", "csv"] {
            let process = Process()
            process.executableURL = Bundle.main.bundleURL.appendingPathComponent("eqbench-fuzz")
            process.arguments = [target, Self.root.appendingPathComponent("Fuzz/corpus/\(target)").path]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = Pipe()
            try process.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, target)
            XCTAssertTrue(text.contains("\(target): ") && !text.contains(": 0 inputs"), text)
        }
    }

    /// Ctrl-C after the first finished row: the run stops, writes the rows it
    /// has (not the whole matrix) and exits 130.
    func testInterruptKeepsFinishedRows() throws {
        let out = scratch.appendingPathComponent("report")
        let process = Process()
        process.executableURL = Bundle.main.bundleURL.appendingPathComponent("eqbench")
        process.arguments = ["run", "--model", "Datasets/models/mlp.onnx", "--model", "Datasets/models/resnet.onnx",
                             "--variants", "baseline,cls", "--eval", "64", "--calib", "50", "--out", out.path]
        process.currentDirectoryURL = Self.root
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        let firstRow = DispatchSemaphore(value: 0)
        let seen = FirstSighting()
        err.fileHandleForReading.readabilityHandler = { handle in
            if String(decoding: handle.availableData, as: UTF8.self).contains("top-1"), seen.mark() { firstRow.signal() }
        }
        try process.run()
        XCTAssertEqual(firstRow.wait(timeout: .now() + 120), .success)
        process.interrupt()
        process.waitUntilExit()
        err.fileHandleForReading.readabilityHandler = nil
        XCTAssertEqual(process.terminationStatus, 130)
        let rows = try String(contentsOf: out.appendingPathComponent("accuracy.csv"), encoding: .utf8).split(separator: "\n").count - 1
        XCTAssertGreaterThanOrEqual(rows, 1)
        XCTAssertLessThan(rows, 12, "the whole matrix is 2 models × 2 variants × 3 precisions")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as? [String: Any]
        XCTAssertEqual(summary?["status"] as? String, "interrupted")
        let merge = try eqbench("merge", out.path, "--out", scratch.appendingPathComponent("merged").path)
        XCTAssertNotEqual(merge.status, 0)
        XCTAssertTrue(merge.err.contains("is an interrupted run"), merge.err)
    }

    func testCompareExitCodes() throws {
        let old = scratch.appendingPathComponent("old"), new = scratch.appendingPathComponent("new")
        for (folder, top1) in [(old, "90.00"), (new, "88.00")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try ("model,variant,precision,top1,status\r\nm,dfq,w8a8-pt,\(top1),ok\r\n")
                .write(to: folder.appendingPathComponent("accuracy.csv"), atomically: true, encoding: .utf8)
            try "{\"status\": \"complete\"}".write(to: folder.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(try eqbench("compare", old.path, old.path).status, 0)
        let dropped = try eqbench("compare", new.path, old.path, "--format", "markdown")   // a gain is fine
        XCTAssertEqual(dropped.status, 0, dropped.err)
        let regression = try eqbench("compare", old.path, new.path)
        XCTAssertEqual(regression.status, 1)
        XCTAssertTrue(regression.out.contains("FAIL: 1 regression"), regression.out)
        XCTAssertEqual(try eqbench("compare", old.path, new.path, "--max-top1-drop", "3").status, 0)
        let partial = scratch.appendingPathComponent("partial")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        try "model,variant,precision,top1,status\r\n".write(to: partial.appendingPathComponent("accuracy.csv"), atomically: true, encoding: .utf8)
        // No summary.json: the folder's writing never finished, which is an error, not a pass.
        let unfinished = try eqbench("compare", old.path, partial.path)
        XCTAssertNotEqual(unfinished.status, 0)
        XCTAssertTrue(unfinished.err.contains("no summary.json, so its writing never finished"), unfinished.err)
        try "{\"status\": \"complete\"}".write(to: partial.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        let vanished = try eqbench("compare", old.path, partial.path)
        XCTAssertEqual(vanished.status, 1, "a model that dropped out of the nightly run fails the gate")
        XCTAssertTrue(vanished.out.contains("missing from the new one"), vanished.out)
        XCTAssertEqual(try eqbench("compare", old.path, partial.path, "--allow-partial").status, 0)
        try "{\"status\": \"interrupted\"}".write(to: new.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        let interrupted = try eqbench("compare", old.path, new.path, "--max-top1-drop", "3")
        XCTAssertEqual(interrupted.status, 1)
        XCTAssertTrue(interrupted.out.contains("the new report is of an interrupted run"), interrupted.out)
        let unreadable = try eqbench("compare", old.path, scratch.appendingPathComponent("nope").path)
        XCTAssertEqual(unreadable.status, 2)
        XCTAssertTrue(unreadable.err.contains("nope/accuracy.csv: cannot read"), unreadable.err)
    }

    func testInspectListsOpsAndShapes() throws {
        let result = try eqbench("inspect", "Datasets/models/mbv2.onnx")
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("input: input [N, 1, 28, 28]"), result.out)
        XCTAssertTrue(result.out.contains("DepthwiseConv ×"), result.out)
        XCTAssertTrue(result.out.contains("BatchNormalization ×"), result.out)
        let plan = try eqbench("inspect", "Datasets/models/mbv2.onnx", "--precision", "w8a8-pc")
        XCTAssertEqual(plan.status, 0, plan.err)
        XCTAssertTrue(plan.out.contains("batch norms folded into the layer before them (22)"), plan.out)
        XCTAssertTrue(plan.out.contains("quantized weights (23 layers)"), plan.out)
        // The seven depthwise convs stay on fake quant with --int8 integer.
        XCTAssertTrue(plan.out.contains("with --int8 integer, 16 of these run on the integer kernels; on fake quant:\n"), plan.out)
    }
}

/// Thread-safe "first time" marker for pipe handlers.
final class FirstSighting: @unchecked Sendable {
    private let lock = NSLock()
    private var marked = false
    /// True the first time it is called.
    func mark() -> Bool { lock.lock(); defer { lock.unlock() }; if marked { return false }; marked = true; return true }
}
