import Dispatch
import EqBLAS
import EqGraph
import EqTensor
import Foundation

/// Why a run could not start.
public enum ExecutorError: Error, Equatable, CustomStringConvertible {
    case invalidGraph(GraphError)
    case inputShape(expected: [Int], got: [Int])
    case unknownTap(String)
    case emptyBatch
    case noImages(graph: String)

    public var description: String {
        switch self {
        case let .invalidGraph(error): return "invalid graph: \(error)"
        case let .inputShape(expected, got):
            return "input has shape \(got), the model expects [N] + \(expected)"
        case let .unknownTap(name): return "no node or value named '\(name)' to tap"
        case .emptyBatch: return "the batch holds no images"
        case let .noImages(graph): return "no calibration images to run \(graph) on"
        }
    }
}

/// The values a run returns: the graph outputs in order, and each tapped
/// value by the name it was asked for, all with the batch as axis 0.
public struct ExecutionResult: Sendable {
    public var outputs: [Tensor]
    public var taps: [String: Tensor]
}

/// Runs a `Graph` in float32 on batches of NCHW images.
///
/// The batch is cut into tiles of `tileSize` images; tiles run in parallel on
/// `threads` workers, each with its own arena of buffers; every kernel runs
/// on the worker's thread. Tiles do not depend on the thread count, and every
/// GEMM sees the same shapes whatever it is, so results are bit-identical for
/// any `threads`.
///
/// Convolutions run on `rowGemm` over the input planes (1×1), shifted
/// zero-bordered planes (3×3 on 28² and 14² maps) or tap columns (im2col rows
/// read from one copy of the input per column tap), depthwise by
/// a direct kernel (`ConvKernel`); a following batch norm and activation are
/// fused into the epilogue when nothing else reads the intermediate value.
/// Linear layers run one `PackedLinear` GEMM per tile, its weight packed
/// when the plan is compiled.
public final class Executor: @unchecked Sendable {
    public let graph: Graph
    /// Per-sample shape of every value.
    public let shapes: [String: [Int]]
    public let threads: Int
    public let tileSize: Int
    /// Quantize-dequantize applied to these values (by value name) right after
    /// they are computed: the activation half of the int8 simulation.
    public let activationQuantizers: [String: FakeQuantizer]
    /// Which kernels run convs and linear layers.
    public let engine: Engine
    /// Quantized layers run in integers (`Int8Path.integer`), by node: the
    /// encodings of their inputs and weights. Empty: every layer in float.
    public let integerLayers: [NodeID: IntegerEncodings]
    /// The thresholds that pick conv kernels and the tile size.
    public let tuning: KernelTuning

    private let lock = NSLock()
    private var plans = [[String]: ExecutionPlan]()
    private var arenas = [[String]: [Arena]]()

    /// `tileSize` nil picks `defaultTileSize(shapes:tuning:)`.
    public init(graph: Graph, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                tileSize: Int? = nil, activationQuantizers: [String: FakeQuantizer] = [:], engine: Engine = .native,
                integerLayers: [NodeID: IntegerEncodings] = [:], tuning: KernelTuning = .measured) throws {
        let shapes: [String: [Int]]
        do {
            shapes = try graph.inferShapes()
        } catch let error as GraphError {
            throw ExecutorError.invalidGraph(error)
        }
        if let unknown = activationQuantizers.keys.sorted().first(where: { shapes[$0] == nil }) {
            throw ExecutorError.unknownTap(unknown)
        }
        self.shapes = shapes
        self.activationQuantizers = activationQuantizers
        self.engine = engine
        self.integerLayers = integerLayers
        self.tuning = tuning
        // The executor runs tiles on its own threads; OpenBLAS must not add its own.
        if engine == .openblas { BLAS.setThreads(1) }
        self.graph = graph
        self.threads = max(1, threads)
        self.tileSize = max(1, tileSize ?? Self.defaultTileSize(shapes: shapes, tuning: tuning))
    }

    /// Images per tile: as many as keep the widest value of a tile within
    /// `KernelTuning.tileFloats` (about an L2's size), between 1 and
    /// `KernelTuning.tileImagesMax`. A tile runs step by step, so a step's
    /// input and output stay in the core's L2 for the next step only when a
    /// tile's values fit there: the demo MobileNetV2 and Inception (64×28²
    /// maps) get 2 images, the ResNet 10, and an MLP on 28×28 inputs 128.
    /// Depends on the model only, never on the thread count, so results stay
    /// bit-identical across `threads`.
    public static func defaultTileSize(shapes: [String: [Int]], tuning: KernelTuning = .measured) -> Int {
        let widest = shapes.values.map { $0.reduce(1, *) }.max() ?? 1
        return min(tuning.tileImagesMax, max(1, tuning.tileFloats / max(widest, 1)))
    }

    /// Compiles the plan for `taps`, allocates one arena per worker and runs
    /// one tile of zeros through each, now rather than inside the first
    /// `run`, so that a timed run measures inference alone: weight packing,
    /// the first touch of every buffer and the worker threads' start are
    /// one-off costs (ONNX Runtime's timing script warms up the same way;
    /// measured in commit 1e9833c).
    public func prepare(taps: [String] = []) throws {
        let values = planKey(try tapValues(taps))
        let plan = self.plan(keeping: values)
        // Taken out of the pool while warming, so a concurrent `run` never shares one.
        lock.lock()
        var workers = arenas.removeValue(forKey: values) ?? []
        lock.unlock()
        while workers.count < threads { workers.append(Arena(plan: plan, tileSize: tileSize)) }
        warmUp(workers, plan: plan)
        lock.lock()
        arenas[values, default: []] += workers
        lock.unlock()
    }

    /// Runs one tile of zeros through each arena, concurrently, so that each
    /// worker thread starts and touches what it will use.
    private func warmUp(_ workers: [Arena], plan: ExecutionPlan) {
        let zeros = [Float](repeating: 0, count: tileSize * plan.inputCount)
        let sinks = plan.exports.map { ExportBuffer([Float](repeating: 0, count: tileSize * $0.count)) }
        ExportBuffer.withPointers(sinks[...], []) { pointers in
            let outputs = SendablePointers(pointers)
            zeros.withUnsafeBufferPointer { source in
                let input = SendablePointer(UnsafeMutablePointer(mutating: source.baseAddress!))
                let warm: @Sendable (Int) -> Void = { worker in
                    workers[worker].runTile(plan, input: input.pointer, images: self.tileSize, firstImage: 0,
                                            exports: outputs.pointers)
                }
                if workers.count == 1 { warm(0) } else { DispatchQueue.concurrentPerform(iterations: workers.count, execute: warm) }
            }
        }
    }

    /// The value a tap name refers to: a value name, or a node name (its output).
    public func tapValue(_ name: String) -> String? {
        if shapes[name] != nil { return name }
        return graph.nodes.first(where: { $0.name == name })?.output
    }

    /// The key of the plan and arenas that keep `values`: each once, sorted,
    /// so the same values in another order (e.g. from a Set) reuse them.
    func planKey(_ values: [String]) -> [String] { Set(values).sorted() }

    /// The values `taps` refer to, or `unknownTap` for the first that names none.
    func tapValues(_ taps: [String]) throws -> [String] {
        try taps.map { name in
            guard let value = tapValue(name) else { throw ExecutorError.unknownTap(name) }
            return value
        }
    }

    /// Throws unless `input` is a non-empty batch [N] + the graph's input shape.
    func validate(_ input: Tensor) throws {
        guard input.rank == graph.input.shape.count + 1, Array(input.shape.dropFirst()) == graph.input.shape else {
            throw ExecutorError.inputShape(expected: graph.input.shape, got: input.shape)
        }
        guard input.shape[0] > 0, input.count > 0 else { throw ExecutorError.emptyBatch }
    }

    /// Runs a batch [N] + input shape and returns the outputs and the taps
    /// (names may repeat; each is returned once).
    public func run(_ input: Tensor, taps: [String] = []) throws -> ExecutionResult {
        try validate(input)
        let tapValues = try tapValues(taps)
        let key = planKey(tapValues)
        let plan = self.plan(keeping: key)
        let batch = input.shape[0]
        // Results are written straight into the arrays the tensors will own
        // (every element is written: the tiles cover the whole batch).
        let results = plan.exports.map { export in
            ExportBuffer([Float](unsafeUninitializedCapacity: batch * export.count) { _, count in count = batch * export.count })
        }
        let tiles = (batch + tileSize - 1) / tileSize
        let workers = min(threads, tiles)
        ExportBuffer.withPointers(results[...], []) { pointers in
        let outputs = SendablePointers(pointers)
        input.data.withUnsafeBufferPointer { source in
            let inputPointer = SendablePointer(UnsafeMutablePointer(mutating: source.baseAddress!))
            let queue = TileQueue(count: tiles)
            let work: @Sendable (Int) -> Void = { _ in
                let arena = self.checkoutArena(plan: plan, key: key)
                defer { self.returnArena(arena, key: key) }
                while let tile = queue.next() {
                    let start = tile * self.tileSize
                    let count = min(self.tileSize, batch - start)
                    arena.runTile(plan, input: inputPointer.pointer + start * plan.inputCount,
                                  images: count, firstImage: start, exports: outputs.pointers)
                }
            }
            if workers <= 1 {
                work(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: workers, execute: work)
            }
        }
        }

        var tensors = [String: Tensor]()
        for (export, buffer) in zip(plan.exports, results) {
            tensors[export.value] = Tensor(shape: [batch] + export.shape, data: buffer.data)
        }
        return ExecutionResult(outputs: graph.outputs.map { tensors[$0]! },
                               taps: Dictionary(zip(taps, tapValues).map { ($0, tensors[$1]!) }, uniquingKeysWith: { first, _ in first }))
    }

    func plan(keeping values: [String]) -> ExecutionPlan {
        lock.lock()
        defer { lock.unlock() }
        if let plan = plans[values] { return plan }
        let plan = ExecutionPlan(graph: graph, shapes: shapes, keep: values, quantizers: activationQuantizers, engine: engine,
                                 tuning: tuning, integerLayers: integerLayers)
        plans[values] = plan
        return plan
    }

    /// How many tap sets have a compiled plan.
    var compiledPlanCount: Int { lock.lock(); defer { lock.unlock() }; return plans.count }

    func checkoutArena(plan: ExecutionPlan, key: [String]) -> Arena {
        lock.lock()
        defer { lock.unlock() }
        if let arena = arenas[key]?.popLast() { return arena }
        return Arena(plan: plan, tileSize: tileSize)
    }

    func returnArena(_ arena: Arena, key: [String]) {
        lock.lock()
        arenas[key, default: []].append(arena)
        lock.unlock()
    }
}

/// The tiles of one run, handed out in order to whichever worker asks next:
/// on a shared machine one core can run slower for a while, and a fixed
/// round-robin share then left the other idle at the end of every batch
/// (commit ceffdf0).
/// Which worker runs a tile changes no result (each has its own arena and a
/// tile's arithmetic is fixed).
final class TileQueue: @unchecked Sendable {
    private let count: Int
    private var claimed = 0
    private let lock = NSLock()

    init(count: Int) { self.count = count }

    /// The next tile nobody has claimed, or nil when all are.
    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard claimed < count else { return nil }
        claimed += 1
        return claimed - 1
    }
}

/// The buffers one worker uses: a slot per plan slot sized for a whole tile,
/// and per-image scratch. Reused from run to run.
final class Arena: @unchecked Sendable {
    /// The memory of each slot; a borrowed input's slot is pointed at the
    /// caller's batch for the duration of a tile.
    private var slots: [UnsafeMutablePointer<Float>]
    private let owned: [UnsafeMutablePointer<Float>]
    let workspace: UnsafeMutablePointer<Float>

    init(plan: ExecutionPlan, tileSize: Int) {
        owned = plan.slotCounts.map { count in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count * tileSize))
            p.initialize(repeating: 0, count: max(1, count * tileSize))
            return p
        }
        slots = owned
        workspace = .allocate(capacity: max(1, plan.workspaceCount))
        workspace.initialize(repeating: 0, count: max(1, plan.workspaceCount))
    }

    deinit {
        owned.forEach { $0.deallocate() }
        workspace.deallocate()
    }

    /// Runs every step on `images` images whose input starts at `input` (read
    /// only, unless the plan quantizes a copy of it), and copies the exported
    /// values to `exports` at image offset `firstImage`. With `stepSeconds`,
    /// the time of each step (its kernel, quantizer and export copies) is added
    /// to stepSeconds[step index].
    func runTile(_ plan: ExecutionPlan, input: UnsafeMutablePointer<Float>, images: Int,
                 firstImage: Int, exports: [UnsafeMutablePointer<Float>], stepSeconds: UnsafeMutablePointer<Double>? = nil) {
        if plan.inputBorrowed {
            slots[plan.inputSlot] = input
        } else {
            slots[plan.inputSlot] = owned[plan.inputSlot]
            slots[plan.inputSlot].update(from: input, count: images * plan.inputCount)
            plan.inputQuantizer?.apply(slots[plan.inputSlot], count: images * plan.inputCount)
        }
        for e in plan.inputExports {
            (exports[e] + firstImage * plan.inputCount).update(from: slots[plan.inputSlot], count: images * plan.inputCount)
        }
        for (index, step) in plan.steps.enumerated() {
            let began = stepSeconds == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            defer {
                if let stepSeconds { stepSeconds[index] += Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9 }
            }
            let inputs = step.inputSlots.map { slots[$0] }
            let output = step.directExport.map { exports[$0] + firstImage * step.outputCount } ?? slots[step.outputSlot]
            if let layer = step.kernel.tileLinear {
                // One GEMM for the tile, Y[images, out] = X[images, in] · Wᵀ + bias,
                // a ReLU or clip fused into its stores; other activations after it.
                let clamp = step.activation?.clampBounds
                layer.run(inputs[0], rows: images, clamp: clamp, into: output)
                if clamp == nil, let activation = step.activation {
                    activation.apply(output, count: images * layer.outFeatures)
                }
            } else if case let .activation(activation) = step.kernel {
                activation.apply(inputs[0], to: output, count: images * step.outputCount)
            } else if let quantizer = step.residualQuantizer {
                // A fused Add that reads the conv's quantized output: the conv
                // stores its raw output, one pass quantizes it, adds the
                // residual (the step's second input) and clamps.
                for i in 0..<images {
                    step.kernel.run(inputs: [inputs[0] + i * step.inputCounts[0]], output: output + i * step.outputCount,
                                    outputCount: step.outputCount, workspace: workspace, affine: step.affine, activation: nil)
                }
                let clamp = step.activation?.clampBounds
                quantizer.applyThenAdd(output, residual: inputs[1], lower: clamp?.lower ?? -.infinity,
                                       upper: clamp?.upper ?? .infinity, count: images * step.outputCount)
                if clamp == nil { step.activation?.apply(output, count: images * step.outputCount) }
            } else {
                var pointers = inputs
                for i in 0..<images {
                    for k in pointers.indices { pointers[k] = inputs[k] + i * step.inputCounts[k] }
                    step.kernel.run(inputs: pointers, output: output + i * step.outputCount, outputCount: step.outputCount,
                                    workspace: workspace, affine: step.affine, activation: step.activation)
                }
            }
            step.outputQuantizer?.apply(output, count: images * step.outputCount)
            for e in step.exports {
                (exports[e] + firstImage * step.outputCount).update(from: output, count: images * step.outputCount)
            }
        }
    }
}

/// The array one exported value is written into during a run.
final class ExportBuffer {
    var data: [Float]
    init(_ data: [Float]) { self.data = data }

    /// Calls `body` with stable pointers to every buffer's elements.
    static func withPointers(_ buffers: ArraySlice<ExportBuffer>, _ collected: [UnsafeMutablePointer<Float>],
                             _ body: ([UnsafeMutablePointer<Float>]) -> Void) {
        guard let first = buffers.first else { return body(collected) }
        first.data.withUnsafeMutableBufferPointer { p in
            withPointers(buffers.dropFirst(), collected + [p.baseAddress!], body)
        }
    }
}

/// A raw pointer that may cross into concurrently running workers; each worker
/// writes a disjoint range.
struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

struct SendablePointers: @unchecked Sendable {
    let pointers: [UnsafeMutablePointer<Float>]
    init(_ pointers: [UnsafeMutablePointer<Float>]) { self.pointers = pointers }
}
