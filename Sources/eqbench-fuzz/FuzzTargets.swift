import EqData
import EqGraph
import EqHarness
import EqONNX
import EqPasses
import Foundation

/// The file formats eqbench reads from its users, each as a fuzz target:
/// any bytes must end in a thrown error or a result, never a trap, a hang or
/// an allocation beyond the documented limits. `make fuzz` runs each under
/// libFuzzer; without -DFUZZING this executable replays files (the
/// committed corpus in Fuzz/corpus/, which the tests replay too).
enum FuzzTarget: String, CaseIterable {
    case onnx, png, jpeg, idx, config, csv

    /// Parses `data` as this target's format; thrown errors are the expected outcome.
    func run(_ data: Data) {
        switch self {
        case .onnx:
            if let graph = try? ONNXImporter.importModel(serialized: data, source: "fuzz.onnx") { _ = try? graph.inferShapes() }
        case .png:
            _ = try? PNGCodec.decode(data: data, path: "fuzz.png")
        case .jpeg:
            _ = try? JPEGCodec.decode(data: data, path: "fuzz.jpg")
        case .idx:
            // IDXImport reads files (gzip or plain, through zlib).
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-fuzz-\(getpid()).idx")
            guard (try? data.write(to: url)) != nil else { return }
            _ = try? IDXImport.read(path: url.path)
            try? FileManager.default.removeItem(at: url)
        case .config:
            _ = try? VariantConfig.parse(data, source: URL(fileURLWithPath: "fuzz.json"))
        case .csv:
            _ = try? CSVTable.parse(String(decoding: data, as: UTF8.self))
        }
    }
}

#if FUZZING
/// The target `EQBENCH_FUZZ_TARGET` names (libFuzzer owns the command line).
let fuzzTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["EQBENCH_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("set EQBENCH_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The executable's entry point (SwiftPM links `main` to `<module>_main`):
/// hands the command line to libFuzzer's driver, which calls the target per input.
@_cdecl("eqbench_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
        fuzzTarget.run(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
#else
/// `eqbench-fuzz TARGET PATH...`: runs every file (folders: every file in
/// them) through the target once, as the fuzzer would.
@main
struct Replay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            print("usage: eqbench-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE_OR_FOLDER...")
            exit(64)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.run(data)
                count += 1
            }
        }
        print("\(target.rawValue): \(count) inputs replayed")
    }
}
#endif
