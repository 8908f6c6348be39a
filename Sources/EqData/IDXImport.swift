import CZlib
import Foundation

/// Reads IDX files (the MNIST / Fashion-MNIST format: big-endian magic with
/// the element type and rank, then the dimensions, then the data), gzipped or
/// not, and writes them out as an `ImageFolder`.
public enum IDXImport {
    /// An unsigned-byte IDX array.
    public struct Array3: Sendable {
        public var dims: [Int]
        public var bytes: [UInt8]
    }

    /// Class names of the datasets that ship as IDX files.
    public static let presets: [String: [String]] = [
        "fashion-mnist": ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"],
        "mnist": (0...9).map(String.init),
    ]

    /// The most data bytes an IDX file may promise (2^31; Fashion-MNIST's training images are 47 MB).
    public static let maxBytes = 1 << 31

    /// Reads an unsigned-byte IDX file; zlib reads gzip and plain files alike.
    /// The header is read and checked first, then exactly the bytes it
    /// promises: a file that is not regular (a FIFO, /dev/zero) or a gzip
    /// stream of zeros is refused before it is read whole.
    public static func read(path: String) throws -> Array3 {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let type = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.type] as? FileAttributeType else {
            throw DatasetError.missing(path: path, what: "IDX file")
        }
        guard type == .typeRegular else { throw DatasetError.unreadable(path: path, reason: "not a regular file") }
        guard let file = gzopen(path, "rb") else { throw DatasetError.unreadable(path: path, reason: "cannot open") }
        defer { gzclose(file) }
        /// Up to `count` bytes, fewer only at the end of the stream; memory grows
        /// with the bytes read, not with what a header promises.
        func next(_ count: Int) throws -> [UInt8] {
            var bytes = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: min(count, 1 << 20))
            while bytes.count < count {
                let want = min(count - bytes.count, chunk.count)
                let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(want)) }
                if n < 0 { throw DatasetError.unreadable(path: path, reason: "corrupt gzip stream") }
                if n == 0 { break }
                bytes += chunk[..<Int(n)]
            }
            return bytes
        }
        let magic = try next(4)
        guard magic.count == 4, magic[0] == 0, magic[1] == 0 else {
            throw DatasetError.invalid(path: path, reason: "not an IDX file (bad magic number)")
        }
        guard magic[2] == 0x08 else {
            throw DatasetError.invalid(path: path, reason: "IDX element type 0x\(String(magic[2], radix: 16)) is not unsigned byte")
        }
        let rank = Int(magic[3])
        let header = try next(4 * rank)
        guard header.count == 4 * rank else { throw DatasetError.invalid(path: path, reason: "truncated IDX header") }
        let dims = (0..<rank).map { i in (0..<4).reduce(0) { $0 << 8 | Int(header[4 * i + $1]) } }
        var count = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maxBytes else {
                throw DatasetError.invalid(path: path, reason: "IDX dims \(dims) promise more than \(maxBytes) bytes")
            }
            count = product
        }
        let bytes = try next(count)
        let extra = try next(1)
        guard bytes.count == count, extra.isEmpty else {
            throw DatasetError.invalid(path: path, reason: "IDX data holds \(bytes.count == count ? "more than \(count)" : "\(bytes.count)") bytes, its header promises \(count)")
        }
        return Array3(dims: dims, bytes: bytes)
    }

    /// Writes images and labels as an image folder at `output`: `classes.txt`
    /// and `<class>/<index>.png`, index = position in the IDX file (zero-padded),
    /// keeping at most `perClass` images of each class (the first ones, in file
    /// order). Returns the number of images written.
    @discardableResult
    public static func writeImageFolder(images: Array3, labels: Array3, classNames: [String],
                                        perClass: Int?, output: URL) throws -> Int {
        guard images.dims.count == 3 else {
            throw DatasetError.invalid(path: "--images", reason: "expected an [N, rows, cols] IDX array, got dims \(images.dims)")
        }
        guard labels.dims.count == 1, labels.dims[0] == images.dims[0] else {
            throw DatasetError.invalid(path: "--labels", reason: "expected \(images.dims[0]) labels, got dims \(labels.dims)")
        }
        if let bad = labels.bytes.first(where: { Int($0) >= classNames.count }) {
            throw DatasetError.invalid(path: "--labels", reason: "label \(bad) has no class name (\(classNames.count) given)")
        }
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: output.path, isDirectory: &isFolder), !isFolder.boolValue {
            throw DatasetError.invalid(path: output.path, reason: "exists and is not a folder; choose another --out")
        }
        if let existing = try? fm.contentsOfDirectory(atPath: output.path), !existing.isEmpty {
            throw DatasetError.invalid(path: output.path, reason: "output folder is not empty; remove it or choose another --out")
        }
        // Write into a temporary sibling and rename, so a failure leaves no half folder.
        let staging = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).partial-\(getpid())")
        try? fm.removeItem(at: staging)
        do {
            for name in classNames {
                try fm.createDirectory(at: staging.appendingPathComponent(name), withIntermediateDirectories: true)
            }
            try (classNames.joined(separator: "\n") + "\n").write(to: staging.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
            let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2])
            let digits = max(5, String(n - 1).count)
            var written = [Int](repeating: 0, count: classNames.count)
            for i in 0..<n {
                let label = Int(labels.bytes[i])
                if let perClass, written[label] >= perClass { continue }
                let name = String(repeating: "0", count: max(0, digits - String(i).count)) + String(i) + ".png"
                let path = staging.appendingPathComponent(classNames[label]).appendingPathComponent(name).path
                try PNGCodec.writeGray8(Array(images.bytes[(i * rows * cols)..<((i + 1) * rows * cols)]),
                                        width: cols, height: rows, to: path)
                written[label] += 1
            }
            try? fm.removeItem(at: output)
            try fm.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.moveItem(at: staging, to: output)
            return written.reduce(0, +)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }
}
