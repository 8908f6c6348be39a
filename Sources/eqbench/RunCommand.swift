import ArgumentParser
import EqHarness
import EqPasses
import EqRuntime
import EqQuant
import Foundation

/// `eqbench run`: evaluates models on a dataset and writes the report tables.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Evaluate models under each variant and precision; write report.html and the CSV tables.",
        discussion: "`eqbench passes` lists the passes that `+` combinations and --config files can name, with their parameters.")

    @Option(name: .customLong("model"), help: "An ONNX model to evaluate (repeatable). Default: every .onnx in Datasets/models.")
    var models: [String] = []

    @Option(help: "Dataset folder with test/ (and calib/) image-folder splits.")
    var dataset = "Datasets/fashion-mnist"

    @Option(name: .customLong("eval"), parsing: .unconditional, help: "Evaluate only the first N test images.")
    var evalLimit: Int?

    @Option(name: .customLong("calib"), parsing: .unconditional, help: "Calibrate int8 precisions on the first N images of calib/ (all if fewer).")
    var calibLimit = 500

    @Option(help: "Output folder for the report. Default: reports/<timestamp>.")
    var out: String?

    @Option(parsing: .unconditional, help: "Worker threads; the default is this machine's core count.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(parsing: .unconditional, help: "Images per executor batch.")
    var batch = 256

    @OptionGroup var input: InputOptions

    @Option(help: "Comma-separated variants (default \(Catalog.defaultVariants.joined(separator: ",")); with --config: baseline plus the file's). Valid: \(Catalog.variants.joined(separator: ", ")).")
    var variants: String?

    @Option(name: .customLong("analysis-images"), parsing: .unconditional, help: "Measure per-layer SQNR (layers.csv) on the first N evaluation images; 0 for all. Top-1 and logits SQNR always use every image.")
    var analysisImages = 256

    @Option(name: .customLong("calib-resamples"), parsing: .unconditional, help: "Also calibrate each int8 precision on K disjoint subsets of calib/ and report the spread of top-1 (top1_calib_min/max).")
    var calibResamples = 1

    @Option(parsing: .unconditional, help: "Seconds per model for a greedy search over pass pipelines beyond the named variants, scored at the first int8 precision; every tried pipeline is a row of search.csv.")
    var search: Double?

    @Option(help: "Run slice K of N of the model × variant matrix (e.g. 2/8), for a batch job fanned out over N workers; join the folders with `eqbench merge`.")
    var shard: String?

    @Option(help: "A JSON file of custom pipelines ({\"variants\": [{\"name\": ..., \"passes\": [...]}]}); their names join --variants.")
    var config: String?

    @Option(name: .customLong("max-drop"), parsing: .unconditional, help: "Points of top-1 below fp32 a recommended variant may lose (also on its worst --calib-resamples subset); the verdict says when none keeps within it.")
    var maxDrop = Recommendation.defaultMaxDrop

    @Option(name: .customLong("float-layers"), help: floatLayersHelp)
    var floatLayerNames: String?

    @Option(help: "Sweep this variant's layers at each int8 precision on the --analysis-images: each layer quantized alone, and each kept in float while the rest is quantized; ranked by top-1 and logits SQNR into sensitivity.csv and the report.")
    var sensitivity: String?

    @Option(help: "Comma-separated precisions: \(Catalog.precisionGrammar).")
    var precisions = Catalog.defaultPrecisions.joined(separator: ",")

    @Option(help: "Kernels for convs and linear layers: native (eqbench's own) or openblas (the reference: im2col + OpenBLAS sgemm, plain loops after).")
    var engine = "native"

    @Option(name: .customLong("int8"), help: int8Help)
    var int8 = Int8Path.preferred.rawValue

    @Option(name: .customLong("export-recommended"), help: "After the run, write each model's recommended variant per int8 precision into this folder as `eqbench export` does (float ONNX, QDQ ONNX, encodings).")
    var exportRecommended: String?

    @Option(name: .customLong("weight-codes"), help: "With --export-recommended: int8 or uint8 weight codes in the QDQ models (see `eqbench export --help`).")
    var weightCodes = "int8"

    func validate() throws {
        guard (1...Limits.threads).contains(threads) else {
            throw ValidationError("--threads must be from 1 to \(Limits.threads) (4 per core), got \(threads)")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if let evalLimit, evalLimit < 1 { throw ValidationError("--eval must be at least 1, got \(evalLimit)") }
        guard calibLimit >= 1 else { throw ValidationError("--calib must be at least 1, got \(calibLimit)") }
        _ = try parsedShard()
        if let search, !(search > 0 && search <= Limits.searchSeconds) {
            throw ValidationError("--search must be a number of seconds above 0 and at most \(Int(Limits.searchSeconds)) (a day), got \(search)")
        }
        guard analysisImages >= 0 else { throw ValidationError("--analysis-images must be 0 (all) or more, got \(analysisImages)") }
        guard maxDrop.isFinite, maxDrop >= 0, maxDrop <= 100 else {
            throw ValidationError("--max-drop must be points of top-1 from 0 to 100, got \(maxDrop)")
        }
        guard calibResamples >= 1 else { throw ValidationError("--calib-resamples must be at least 1, got \(calibResamples)") }
        if let out { try Self.checkWritableFolder(out) }
        if let exportRecommended {
            try Self.checkWritableFolder(exportRecommended, flag: "--export-recommended")
            if shard != nil {
                throw ValidationError("--export-recommended needs every variant's rows, which one --shard does not have; after `eqbench merge`, export the variants recommendations.csv names with `eqbench export`")
            }
        }
        _ = try parseEngine(engine)
        _ = try parseInt8Path(int8)
        guard ["int8", "uint8"].contains(weightCodes) else {
            throw ValidationError("--weight-codes must be int8 or uint8, got '\(weightCodes)'")
        }
        for model in models where !FileManager.default.fileExists(atPath: model) {
            throw ValidationError("--model \(model): no such file")
        }
        do {
            try Catalog.validateVariants(try variantNames(), custom: try loadVariants(config))
            let kept = try floatLayers(floatLayerNames, config: config)
            let urls = models.isEmpty ? ((try? ModelSource.discover(in: URL(fileURLWithPath: "Datasets/models"))) ?? []) : models.map { URL(fileURLWithPath: $0) }
            try checkModelFlags(input, floatLayers: kept, models: urls)
            if let sensitivity, !(try variantNames()).contains(sensitivity) {
                throw ValidationError("--sensitivity \(sensitivity): not one of this run's variants (\(try variantNames().joined(separator: ", ")))")
            }
            if sensitivity != nil, try Catalog.precisions(parseNames(precisions)).allSatisfy(\.isFloat) {
                throw ValidationError("--sensitivity needs an int8 precision in --precisions")
            }
            _ = try Catalog.precisions(parseNames(precisions))
        } catch let error as HarnessError {
            throw ValidationError(error.message)
        }
    }

    /// `--out` must name a folder that exists and is writable, or that can be
    /// created in a writable folder: checked before any work, not after the
    /// whole evaluation.
    static func checkWritableFolder(_ path: String, flag: String = "--out") throws {
        guard !path.isEmpty else { throw ValidationError("\(flag) is empty; name the folder to write into") }
        let files = FileManager.default
        var isFolder: ObjCBool = false
        var existing = URL(fileURLWithPath: path).standardizedFileURL
        if files.fileExists(atPath: existing.path, isDirectory: &isFolder), !isFolder.boolValue {
            throw ValidationError("\(flag) \(path) exists and is not a folder")
        }
        while !files.fileExists(atPath: existing.path, isDirectory: &isFolder) { existing.deleteLastPathComponent() }
        guard isFolder.boolValue else { throw ValidationError("\(flag) \(path): \(existing.path) is not a folder") }
        guard files.isWritableFile(atPath: existing.path) else {
            throw ValidationError("\(flag) \(path): \(existing.path) is not writable")
        }
    }

    /// `--shard K/N` as numbers, nil without it.
    func parsedShard() throws -> (index: Int, count: Int)? {
        guard let shard else { return nil }
        let parts = shard.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let k = parts[0], let n = parts[1], n >= 1, (1...n).contains(k) else {
            throw ValidationError("--shard must be K/N with 1 ≤ K ≤ N (e.g. 2/8), got '\(shard)'")
        }
        return (k, n)
    }

    func variantNames() throws -> [String] {
        if let variants { return parseNames(variants) }
        if config != nil { return ["baseline"] + (try loadVariants(config)).map(\.name) }
        return Catalog.defaultVariants
    }

    func run() throws {
        let modelURLs = models.isEmpty
            ? try ModelSource.discover(in: URL(fileURLWithPath: "Datasets/models"))
            : models.map { URL(fileURLWithPath: $0) }
        let output = URL(fileURLWithPath: out ?? "reports/" + Self.timestamp())
        var settings = RunSettings(models: modelURLs, dataset: URL(fileURLWithPath: dataset),
                                   evalLimit: evalLimit, calibLimit: calibLimit, output: output, threads: threads, batchSize: batch,
                                   variants: try variantNames(), precisions: parseNames(precisions))
        try input.apply(to: &settings)
        settings.customVariants = try loadVariants(config)
        settings.floatLayers = try floatLayers(floatLayerNames, config: config)
        settings.maxDrop = maxDrop
        settings.sensitivityVariant = sensitivity
        settings.shard = try parsedShard()
        settings.calibResamples = calibResamples
        settings.analysisLimit = analysisImages == 0 ? nil : analysisImages
        settings.searchBudget = search
        settings.engine = try parseEngine(engine)
        settings.int8Path = try parseInt8Path(int8)
        let bar = ProgressBar.forStandardError()
        // Ctrl-C: finish the evaluation in progress, write what is done, exit 130.
        // The message goes on a line of its own, not over the bar (the terminal echoes ^C there).
        let cancellation = CancellationFlag()
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler {
            bar?.clear()
            if cancellation.isCancelled {
                // summary.json is written last, so a folder cut short here reads as unfinished.
                Log.line("interrupted again: stopping now, without a report")
                Foundation.exit(130)
            }
            Log.line("interrupted: finishing the evaluation in progress, then writing the rows done so far (Ctrl-C again stops at once)")
            cancellation.cancel()
        }
        interrupt.resume()
        let evaluation = EvaluationRun(settings: settings, cancellation: cancellation, log: { bar?.clear(); Log.line($0) })
        if let bar { evaluation.progress = { bar.update($0) } }
        let report = try evaluation.execute()
        bar?.clear()
        interrupt.cancel()
        if let folder = report.folder { print(folder.summaryText) }
        for warning in report.warnings { Log.line("warning: " + warning) }
        print("\nwrote \(output.path)/report.html, accuracy.csv, layers.csv, passes.csv, coverage.csv, throughput.csv, recommendations.csv, search.csv, sensitivity.csv, summary.json")
        if report.interrupted {
            Log.line("run interrupted: \(report.accuracy.count) rows written")
            throw ExitCode(130)
        }
        if let exportRecommended, let folder = report.folder {
            try export(folder.recommendations, of: modelURLs, with: evaluation, into: URL(fileURLWithPath: exportRecommended))
        }
        if report.hasErrors { throw ExitCode.failure }
    }

    /// Writes each recommended (model, precision, variant) as `eqbench export` does.
    func export(_ recommendations: [Recommendation], of models: [URL], with evaluation: EvaluationRun, into folder: URL) throws {
        guard !recommendations.isEmpty else {
            Log.line("--export-recommended: no recommendations (they need an int8 precision and rows without errors); nothing exported")
            return
        }
        var notes = [String]()
        let keys = try ModelSource.keys(for: models)
        for recommendation in recommendations {
            guard let url = zip(models, keys).first(where: { $0.1 == recommendation.model })?.0 else { continue }
            // Models whose file names are alike go to the folders their keys name ("nightly/resnet" → DIR/nightly/).
            let target = recommendation.model.split(separator: "/").dropLast().reduce(folder) { $0.appendingPathComponent(String($1)) }
            let exported = try evaluation.export(url, variant: recommendation.variant, precision: try Precision.parse(recommendation.precision),
                                                 to: target, unsignedWeightCodes: weightCodes == "uint8")
            print("exported \(recommendation.model) \(recommendation.variant) \(recommendation.precision): \(exported.floatModel.lastPathComponent), \(exported.qdqModel?.lastPathComponent ?? ""), \(exported.encodings?.lastPathComponent ?? "")")
            notes += exported.notes.filter { !notes.contains($0) }
        }
        for note in notes { print("note: " + note) }
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }
}

/// Bounds on flags whose values become allocations or loop counts: each worker
/// thread keeps its own buffers, bench allocates its random inputs at once.
enum Limits {
    static let threads = 4 * ProcessInfo.processInfo.activeProcessorCount
    static let images = 1_000_000
    static let searchSeconds = 86_400.0
}

/// Progress and diagnostics go to standard error; tables to standard output.
enum Log {
    static func line(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
