import EqGraph
import EqTensor
import Foundation

/// The one place passes, calibration and the per-layer analysis run graphs
/// over an image set (the calibration images, or the analysed evaluation
/// images): the images in fixed batches (held, or read from a cache of decoded
/// images batch by batch, so memory does not grow with their number), one compiled
/// executor per graph state (kept while the graph is unchanged, so the passes
/// of a pipeline and the calibration after them share what they can), and the
/// per-channel ranges a pass asks for, computed once per graph state and value.
///
/// Batches are fed in their fixed order, so every statistic is independent of
/// the thread count. A graph state is the graph's value: a pass that changes
/// the graph gets a new executor, never a stale one.
public final class StatisticsService: @unchecked Sendable {
    /// Per-channel minimum and maximum of one activation (channel = axis 1).
    public struct ChannelRange: Equatable, Sendable {
        public var min: [Float]
        public var max: [Float]
    }

    /// The number of batches and of images in all of them.
    public let batchCount: Int
    public let imageCount: Int
    public let threads: Int
    /// The kernels the service's executors run convs and linear layers with.
    public var engine = Engine.native
    /// Batch i of the calibration images, the same tensor every time it is asked for.
    private let batch: (Int) throws -> Tensor
    /// Called after each batch a graph is run on, with the images done so far and in all.
    public var progress: ((_ done: Int, _ total: Int) -> Void)?

    private let lock = NSLock()
    /// A graph state: the graph, and the activation quantizers of a fake-quantized run.
    private typealias State = (graph: Graph, quantizers: [String: FakeQuantizer], executor: Executor, ranges: [String: ChannelRange])
    /// Recent graph states with their executors and the ranges observed on them, newest last.
    private var states = [State]()
    private static let statesKept = 4

    /// Batches made on demand by `batch` (e.g. read from `PreparedImages`).
    public init(batchCount: Int, imageCount: Int, threads: Int, batch: @escaping (Int) throws -> Tensor) {
        self.batchCount = batchCount
        self.imageCount = imageCount
        self.threads = threads
        self.batch = batch
    }

    /// Batches held in memory.
    public convenience init(batches: [Tensor], threads: Int) {
        self.init(batchCount: batches.count, imageCount: batches.reduce(0) { $0 + $1.shape[0] }, threads: threads) { batches[$0] }
    }

    /// The compiled executor of `graph`, made once per graph state; with
    /// `activationQuantizers`, of its fake-quantized run.
    public func executor(for graph: Graph, activationQuantizers: [String: FakeQuantizer] = [:]) throws -> Executor {
        try state(of: graph, quantizers: activationQuantizers).executor
    }

    /// The images themselves, batch by batch in their fixed order, each batch
    /// given to `body` in consecutive parts of at most `maxImages` images (for
    /// work that runs several executors on the same images).
    public func forEachImagePart(maxImages: Int, _ body: (Tensor) throws -> Void) throws {
        var done = 0
        for index in 0..<batchCount {
            let batch = try self.batch(index)
            let images = batch.shape[0]
            for start in stride(from: 0, to: images, by: max(1, maxImages)) {
                let end = min(start + max(1, maxImages), images)
                try body(start == 0 && end == images ? batch : batch.slice(start..<end))
            }
            done += images
            progress?(done, imageCount)
        }
    }

    /// Bytes of tapped values one run may hold; a batch whose taps need more runs in parts.
    public var maxTapBytes = 128 << 20

    /// Runs `graph` over every batch in order, giving `body` each result with
    /// the `taps` values, a batch at a time or, when its taps would exceed
    /// `maxTapBytes`, in consecutive parts (for statistics that add up over images).
    public func forEachBatch(of graph: Graph, taps: [String], _ body: (ExecutionResult) throws -> Void) throws {
        try forEachPart(of: graph, taps: taps) { result, _ in try body(result) }
    }

    /// As `forEachBatch`, telling `body` which part ends a batch (for
    /// statistics kept per batch, such as a moving average of batch ranges).
    public func forEachPart(of graph: Graph, taps: [String], _ body: (ExecutionResult, _ endsBatch: Bool) throws -> Void) throws {
        guard batchCount > 0 else { throw ExecutorError.noImages(graph: graph.name) }
        let executor = try executor(for: graph)
        let floatsPerImage = Set(taps).reduce(0) { $0 + (executor.shapes[$1].map { $0.reduce(1, *) } ?? 0) }
        let partImages = max(1, maxTapBytes / max(1, floatsPerImage * MemoryLayout<Float>.size))
        var done = 0
        for index in 0..<batchCount {
            let batch = try self.batch(index)
            let images = batch.shape[0]
            for start in stride(from: 0, to: images, by: partImages) {
                let end = min(start + partImages, images)
                let part = start == 0 && end == images ? batch : batch.slice(start..<end)
                try body(try executor.run(part, taps: taps), end == images)
            }
            done += images
            progress?(done, imageCount)
        }
    }

    /// Per-channel min and max of each of `values` over all batches, observed
    /// on `graph` (values already observed on this graph state are not run again).
    public func channelRanges(of values: [String], in graph: Graph) throws -> [String: ChannelRange] {
        let known = try state(of: graph).ranges
        let missing = Array(Set(values).subtracting(known.keys)).sorted()
        var found = [String: ChannelRange]()
        if !missing.isEmpty {
            try forEachBatch(of: graph, taps: missing) { result in
                for value in missing {
                    let t = result.taps[value]!
                    let channels = t.shape[1], plane = t.count / (t.shape[0] * channels)
                    var r = found[value] ?? ChannelRange(min: [Float](repeating: .infinity, count: channels),
                                                         max: [Float](repeating: -.infinity, count: channels))
                    t.data.withUnsafeBufferPointer { p in
                        for n in 0..<t.shape[0] { for c in 0..<channels {
                            let (lo, hi, _) = valueRange(p.baseAddress! + (n * channels + c) * plane, count: plane)
                            r.min[c] = Swift.min(r.min[c], lo); r.max[c] = Swift.max(r.max[c], hi)
                        } }
                    }
                    found[value] = r
                }
            }
            lock.lock()
            if let i = states.lastIndex(where: { $0.graph == graph && $0.quantizers.isEmpty }) { states[i].ranges.merge(found) { old, _ in old } }
            lock.unlock()
        }
        return Dictionary(uniqueKeysWithValues: values.map { ($0, known[$0] ?? found[$0]!) })
    }

    private func state(of graph: Graph, quantizers: [String: FakeQuantizer] = [:]) throws -> State {
        lock.lock()
        if let i = states.lastIndex(where: { $0.graph == graph && $0.quantizers == quantizers }) {
            let state = states.remove(at: i)
            states.append(state)
            lock.unlock()
            return state
        }
        lock.unlock()
        let executor = try Executor(graph: graph, threads: threads, activationQuantizers: quantizers, engine: engine)
        let state: State = (graph, quantizers, executor, [:])
        lock.lock()
        states.append(state)
        if states.count > Self.statesKept { states.removeFirst() }
        lock.unlock()
        return state
    }
}
