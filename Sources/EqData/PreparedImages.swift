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
/// Decoding runs in the background on several threads, in image order, while
/// the caller already evaluates: `batch` waits only for the images it asks
/// for. Each image's pixels depend on that image alone, so the result does
/// not depend on the thread count or the timing.
public final class PreparedImages: @unchecked Sendable {
    public let folder: ImageFolder
    public let geometry: Preprocessing
    public let bytesPerImage: Int
    private let descriptor: Int32
    private let path: String
    private let queue: DecodeQueue

    public var count: Int { folder.count }
    public var labels: [Int] { folder.items.map(\.label) }

    /// Starts decoding every image of `folder` on `threads` threads into a file in `directory`.
    public init(_ folder: ImageFolder, geometry: Preprocessing, threads: Int,
                directory: URL = FileManager.default.temporaryDirectory) throws {
        self.folder = folder
        queue = DecodeQueue(total: folder.count)
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
        // The work holds `self`, so the file stays open until every decoder is done.
        DispatchQueue.global().async { self.decodeAll(threads: max(1, threads)) }
    }

    /// True when images `range` are decoded (a `batch` of them would not wait).
    public func isDecoded(_ range: Range<Int>) -> Bool { queue.isDecoded(range) }

    /// Waits until images `range` (all when nil) are decoded; throws the
    /// error of the first image that could not be.
    public func waitUntilDecoded(_ range: Range<Int>? = nil) throws {
        try queue.wait(for: range ?? 0..<count)
    }

    deinit { close(descriptor) }

    /// Images `range` normalised for `preprocessing` (which must share this geometry), as an NCHW batch.
    public func batch(_ range: Range<Int>, preprocessing: Preprocessing) throws -> Tensor {
        precondition(preprocessing.geometryKey == geometry.geometryKey, "images prepared for \(geometry.geometryKey)")
        try waitUntilDecoded(range)
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
    private func decodeAll(threads: Int) {
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
            var pixels = [UInt8](repeating: 0, count: bytesPerImage)
            while let index = queue.take() {
                do {
                    let image = try ImageFile.decode(path: folder.path(of: folder.items[index]))
                    pixels.withUnsafeMutableBufferPointer { geometry.pixels(of: image, into: $0.baseAddress!) }
                    try pixels.withUnsafeBytes { try writeFully($0, at: index * bytesPerImage) }
                    queue.finished(index)
                } catch {
                    queue.failed(index, error)
                }
            }
        }
        queue.allStopped()
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

/// The decoding threads' shared state: the next image to take, which are
/// done (and how long a prefix of them), the first failure by image index
/// (after which no more are taken), and a condition readers wait on.
private final class DecodeQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let total: Int
    private var next = 0
    private var done: [Bool]
    /// Images 0..<prefix are all decoded.
    private var prefix = 0
    private var stopped = false
    private var failure: (index: Int, error: Error)?

    init(total: Int) {
        self.total = total
        done = [Bool](repeating: false, count: total)
    }

    /// The next image index, or nil when all are taken or one failed.
    func take() -> Int? {
        condition.lock(); defer { condition.unlock() }
        guard next < total, failure == nil else { return nil }
        next += 1
        return next - 1
    }

    func finished(_ index: Int) {
        condition.lock(); defer { condition.unlock() }
        done[index] = true
        while prefix < total && done[prefix] { prefix += 1 }
        condition.broadcast()
    }

    func failed(_ index: Int, _ error: Error) {
        condition.lock(); defer { condition.unlock() }
        if failure == nil || index < failure!.index { failure = (index, error) }
        condition.broadcast()
    }

    /// Every decoder has returned: nothing more will be decoded.
    func allStopped() {
        condition.lock(); defer { condition.unlock() }
        stopped = true
        condition.broadcast()
    }

    func isDecoded(_ range: Range<Int>) -> Bool {
        condition.lock(); defer { condition.unlock() }
        return covers(range)
    }

    /// Every image of `range` is decoded (call with the lock held).
    private func covers(_ range: Range<Int>) -> Bool {
        prefix >= range.upperBound || range.allSatisfy { done[$0] }
    }

    /// Waits until `range` is decoded; throws once an image before its end is known to have failed.
    func wait(for range: Range<Int>) throws {
        condition.lock(); defer { condition.unlock() }
        while true {
            if let failure, failure.index < range.upperBound { throw failure.error }
            if covers(range) { return }
            // Stopped without the range: only after a failure, which then holds the reason.
            if stopped, let failure { throw failure.error }
            condition.wait()
        }
    }
}
