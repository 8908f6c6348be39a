import ArgumentParser
import EqData
import Foundation

/// `eqbench dataset`: dataset tools.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Import datasets into eqbench's image-folder layout.",
        subcommands: [ImportIDX.self])
}

/// `eqbench dataset import-idx`: IDX files (MNIST, Fashion-MNIST) to an image folder.
struct ImportIDX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-idx",
        abstract: "Convert IDX image and label files (gzip or not) into <out>/classes.txt and <out>/<class>/<index>.png.")

    @Option(help: "The IDX images file, e.g. /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz.")
    var images: String

    @Option(help: "The IDX labels file.")
    var labels: String

    @Option(help: "Output folder (must not exist or be empty).")
    var out: String

    @Option(help: "Keep at most N images per class (the first N in file order).")
    var perClass: Int?

    @Option(help: "Class names: a preset (\(IDXImport.presets.keys.sorted().joined(separator: ", "))) or a comma-separated list.")
    var classNames = "fashion-mnist"

    func validate() throws {
        if let perClass, perClass < 1 { throw ValidationError("--per-class must be at least 1, got \(perClass)") }
        let names = IDXImport.presets[classNames] ?? parseNames(classNames)
        guard !names.isEmpty, Set(names).count == names.count,
              names.allSatisfy({ !$0.contains("/") && $0 != "." && $0 != ".." }) else {
            throw ValidationError("--class-names: give a preset or distinct names without '/' (got '\(classNames)')")
        }
    }

    func run() throws {
        let names = IDXImport.presets[classNames] ?? parseNames(classNames)
        let written = try IDXImport.writeImageFolder(
            images: IDXImport.read(path: images), labels: IDXImport.read(path: labels),
            classNames: names, perClass: perClass, output: URL(fileURLWithPath: out))
        print("wrote \(written) images in \(names.count) classes to \(out)")
    }
}
