import EqTensor
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A split's images decoded and brought to one input geometry once per run
/// (`Preprocessing` steps 1–3: 8-bit CHW pixels), kept in an unlinked
/// temporary file and read back, normalised, a batch at a time.
///
/// The process holds one batch, however many images there are: the file's
/// pages belong to the page cache, which the kernel may evict. Every model
/// with the same geometry reads the same file, whatever its mean and std, so
/// each split is decoded once per run, not once per variant or precision.
/// Decoding runs on several threads; each image's pixels depend on that image
/// alone, so the result does not depend on the thread count.
public final class PreparedImages: @unchecked Sendable {
    public let folder: ImageFolder
    public let geometry: Preprocessing
    public let bytesPerImage: Int
    private let descriptor: Int32
    private let path: String

    public var count: Int { folder.count }
    public var labels: [Int] { folder.items.map(\.label) }

    /// Decodes every image of `folder` on `threads` threads into a file in
    /// `directory`; `progress` gets (images done, images in all) after each, on the decoding thread.
    public init(_ folder: ImageFolder, geometry: Preprocessing, threads: Int,
                directory: URL = FileManager.default.temporaryDirectory,
                progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws {
        self.folder = folder
        self.geometry = geometry
        bytesPerImage = geometry.count
        var template = Array(directory.appendingPathComponent("eqbench-images-XXXXXX").path.utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        path = String(cString: template.map { UInt8(bitPattern: $0) })
        guard descriptor >= 0 else {
            throw DatasetError.unreadable(path: path, reason: "cannot create the decoded-image cache: \(String(cString: strerror(errno)))")
        }
        self.descriptor = descriptor
        unlink(path) // the file lives while the descriptor is open, and goes with the process
        try decodeAll(threads: max(1, threads), progress: progress)
    }

    deinit { close(descriptor) }

    /// Images `range` normalised for `preprocessing` (which must share this geometry), as an NCHW batch.
    public func batch(_ range: Range<Int>, preprocessing: Preprocessing) throws -> Tensor {
        precondition(preprocessing.geometryKey == geometry.geometryKey, "images prepared for \(geometry.geometryKey)")
        var pixels = [UInt8](repeating: 0, count: range.count * bytesPerImage)
        try pixels.withUnsafeMutableBytes { try readFully($0, at: range.lowerBound * bytesPerImage) }
        var data = [Float](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            data.withUnsafeMutableBufferPointer { target in
                for i in 0..<range.count {
                    preprocessing.normalize(source.baseAddress! + i * bytesPerImage, into: target.baseAddress! + i * bytesPerImage)
                }
            }
        }
        return Tensor(shape: [range.count, geometry.channels, geometry.height, geometry.width], data: data)
    }

    /// Decodes images in index order from a shared counter; the error of the lowest failing index wins.
    private func decodeAll(threads: Int, progress: ((Int, Int) -> Void)?) throws {
        let queue = DecodeQueue(total: count, progress: progress)
        DispatchQueue.concurrentPerform(iterations: min(threads, count)) { _ in
            var pixels = [UInt8](repeating: 0, count: bytesPerImage)
            while let index = queue.take() {
                do {
                    let image = try ImageFile.decode(path: folder.path(of: folder.items[index]))
                    pixels.withUnsafeMutableBufferPointer { geometry.pixels(of: image, into: $0.baseAddress!) }
                    try pixels.withUnsafeBytes { try writeFully($0, at: index * bytesPerImage) }
                    queue.finished()
                } catch {
                    queue.failed(index, error)
                }
            }
        }
        if let failure = queue.failure { throw failure.error }
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        try transfer(bytes.count, failure: "cannot write the decoded-image cache (disk full? set TMPDIR)") { done in
            pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        }
    }

    private func readFully(_ bytes: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        try transfer(bytes.count, failure: "cannot read the decoded-image cache back") { done in
            pread(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        }
    }

    /// Repeats `step` (given the bytes done, returning bytes moved or −1) until `count` bytes are moved.
    private func transfer(_ count: Int, failure: String, _ step: (Int) -> Int) throws {
        var done = 0
        while done < count {
            let moved = step(done)
            if moved < 0, errno == EINTR { continue }
            guard moved > 0 else {
                throw DatasetError.unreadable(path: path, reason: failure + ": " + (moved == 0 ? "end of file" : String(cString: strerror(errno))))
            }
            done += moved
        }
    }
}

/// The decoding threads' shared state: the next image to take, how many are
/// done, and the first failure by image index (after which no more are taken).
private final class DecodeQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    private let progress: ((Int, Int) -> Void)?
    private var next = 0, done = 0
    private(set) var failure: (index: Int, error: Error)?

    init(total: Int, progress: ((Int, Int) -> Void)?) {
        self.total = total
        self.progress = progress
    }

    /// The next image index, or nil when all are taken or one failed.
    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < total, failure == nil else { return nil }
        next += 1
        return next - 1
    }

    /// One more image done; reports progress (serialised by the lock).
    func finished() {
        lock.lock(); defer { lock.unlock() }
        done += 1
        progress?(done, total)
    }

    func failed(_ index: Int, _ error: Error) {
        lock.lock(); defer { lock.unlock() }
        if failure == nil || index < failure!.index { failure = (index, error) }
    }
}
