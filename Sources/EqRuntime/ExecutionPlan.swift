import EqGraph
import EqTensor

/// A graph compiled for execution: kernels in topological order, each value
/// assigned to a reusable buffer slot, batch norms fused into the conv before
/// them, a residual Add into the conv that computes one of its inputs (the
/// other one becomes the conv step's second input), and activations into the
/// conv, linear, batch-norm or elementwise binary step before them. ONNX
/// Runtime fuses Conv + Add + ReLU the same way; a separate Add is a full
/// pass over three tensors (commit 3e5720f).
///
/// In int8 simulation the conv's output is quantized before the Add reads
/// it; the Add still fuses, the conv then storing its raw output and one pass
/// over the tile applying that quantizer, the residual's add and the
/// activation (`FakeQuantizer.applyThenAdd`; commit 7ec3e60).
///
/// Slots are assigned by liveness: a slot is free again after the last step
/// that reads its value, so memory scales with the widest cut of the graph,
/// not with its length. Values a caller wants back (graph outputs and taps)
/// are copied out of their slot right after the step that produces them, or,
/// when no later step reads them, written by that step straight into the
/// caller's array.
///
/// Nothing is copied that need not be: a reshape (Flatten, Reshape, Identity)
/// whose output nobody observes is a view of its input's slot, not a step, and
/// without an input quantizer the graph input is read where the caller keeps
/// it (`inputBorrowed`: its slot is never handed to another value).
struct ExecutionPlan {
    struct Step {
        var node: String
        /// Nodes fused into this one (a batch norm, a residual Add, an activation), in graph order.
        var fused: [String]
        var kernel: Kernel
        /// Per-image shape of the value the step writes (the last fused node's output).
        var outputShape: [Int]
        var inputSlots: [Int]
        var inputCounts: [Int]
        var outputSlot: Int
        var outputCount: Int
        var activation: Activation?
        /// A fused BatchNorm's per-channel affine, applied before `activation`.
        var affine: ChannelAffine?
        /// Quantize-dequantize applied to the output after the kernel (int8 simulation).
        var outputQuantizer: FakeQuantizer?
        /// The quantizer of a conv output that a fused residual Add reads (int8
        /// simulation): the conv's epilogue then skips the residual and the
        /// activation, which one pass over the tile applies after this quantizer.
        var residualQuantizer: FakeQuantizer?
        /// Indices into `exports` copied out after this step.
        var exports: [Int]
        /// The export this step writes straight into instead of its slot: a
        /// value exported once and read by no later step (a graph output, or
        /// a tap on a last value), which then needs no copy.
        var directExport: Int?
    }

    /// A value copied out of the plan: a graph output or a tapped node output.
    struct Export {
        var value: String
        var shape: [Int]
        var count: Int { shape.reduce(1, *) }
    }

    var steps: [Step]
    var inputSlot: Int
    var inputCount: Int
    /// Elements per image each slot must hold.
    var slotCounts: [Int]
    /// Scratch elements per image (tap columns, shifted planes, depthwise planes).
    var workspaceCount: Int
    var exports: [Export]
    /// Input-value exports (a tap on the graph input itself).
    var inputExports: [Int]
    var inputQuantizer: FakeQuantizer?
    /// The input slot is the caller's batch, not arena memory (no quantizer
    /// writes to the input, so nothing needs a copy of it).
    var inputBorrowed: Bool

    /// Mul(x, Sigmoid(x)) as one SiLU activation node (named after the Mul)
    /// when nothing else reads or observes the sigmoid's output: one pass
    /// instead of two, and the activation can then fuse into the conv that
    /// writes x (EfficientNet's every conv). Quantized runs observe the
    /// sigmoid's output, so they keep both steps.
    static func formingSiLU(_ graph: Graph, observable: Set<String>) -> Graph {
        let consumers = graph.consumers(), producers = graph.producers()
        var nodes = graph.nodes
        var removed = Set<Int>()
        for (i, node) in graph.nodes.enumerated() {
            guard case .binary(.mul) = node.op, node.inputs.count == 2 else { continue }
            for (x, s) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
                guard let p = producers[s], case .activation(.sigmoid) = graph.nodes[p].op, graph.nodes[p].inputs == [x],
                      consumers[s]?.count == 1, !observable.contains(s) else { continue }
                removed.insert(p)
                nodes[i] = Node(name: node.name, op: .activation(.silu), inputs: [x], output: node.output)
                break
            }
        }
        guard !removed.isEmpty else { return graph }
        var formed = graph
        formed.nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return formed
    }

    /// Compiles `graph`; `keep` lists values that must stay observable (taps),
    /// which blocks fusing an activation into the step that produces them, as
    /// does a quantizer on that value.
    init(graph original: Graph, shapes: [String: [Int]], keep: [String], quantizers: [String: FakeQuantizer] = [:],
         engine: Engine = .native, tuning: KernelTuning = .measured, integerLayers: [NodeID: IntegerEncodings] = [:]) {
        let kept = Set(original.outputs).union(keep)
        let observable = kept.union(quantizers.keys)
        let graph = Self.formingSiLU(original, observable: observable)
        let consumers = graph.consumers()

        // Fuse an inference-mode BatchNorm into the conv before it (its
        // per-channel affine runs in the conv's epilogue, the same arithmetic
        // as a separate step), then conv/linear/batchNorm → activation. Either
        // needs the intermediate value to have that single reader and nobody
        // observing it.
        var affineInto = [Int: ChannelAffine]()  // conv index → batch-norm affine
        var residualInto = [Int: String]()       // conv index → the other input of an Add fused into it
        var residualQuantizer = [Int: FakeQuantizer]()  // conv index → the quantizer of its output, read by that Add
        var fusedInto = [Int: Activation]()      // producer index → activation
        var skipped = Set<Int>()                 // nodes absorbed into another step
        var renamed = [Int: String]()            // producer index → value it now writes
        var absorbed = [Int: [String]]()         // producer index → names of the nodes fused into it
        var writer = graph.producers()           // value → index of the step that writes it
        // `quantizedToo` lets a fake-quantized value through (a residual
        // Add's fused pass applies its quantizer).
        func fusible(_ value: String, quantizedToo: Bool = false) -> Int? {
            guard let producer = writer[value], consumers[value]?.count == 1,
                  !(quantizedToo ? kept : observable).contains(value) else { return nil }
            return producer
        }
        // An Add of two equal shapes fuses into the conv behind one input when
        // the other is computed before that conv runs (the conv's step takes
        // it as a second input) and no activation sits between conv and Add.
        // Not into depthwise convs (no network adds right after one, and the
        // residual's check in their per-vector stores cost 2× their time).
        // The conv's output may be quantized.
        func residualFusion(_ node: Node) -> (producer: Int, residual: String, quantizer: FakeQuantizer?)? {
            guard case .binary(.add) = node.op, node.inputs.count == 2, node.inputs[0] != node.inputs[1],
                  shapes[node.inputs[0]] == shapes[node.inputs[1]] else { return nil }
            for (candidate, other) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
                guard let producer = fusible(candidate, quantizedToo: true), case let .conv(layer) = graph.nodes[producer].op, !layer.isDepthwise,
                      fusedInto[producer] == nil, residualInto[producer] == nil,
                      (writer[other] ?? -1) < producer else { continue }
                return (producer, other, quantizers[candidate])
            }
            return nil
        }
        for (i, node) in graph.nodes.enumerated() {
            if let (producer, residual, quantizer) = residualFusion(node) {
                residualInto[producer] = residual
                residualQuantizer[producer] = quantizer
                skipped.insert(i)
                absorbed[producer, default: []].append(node.name)
                renamed[producer] = node.output
                writer[node.output] = producer
                continue
            }
            guard let producer = fusible(node.inputs.first ?? "") else { continue }
            switch (node.op, graph.nodes[producer].op) {
            case let (.batchNorm(bn), .conv) where affineInto[producer] == nil && fusedInto[producer] == nil:
                let (scale, shift) = bn.affine()
                affineInto[producer] = ChannelAffine(scale: scale, shift: shift)
            case let (.activation(activation), .conv), let (.activation(activation), .linear),
                 let (.activation(activation), .batchNorm), let (.activation(activation), .binary):
                guard fusedInto[producer] == nil else { continue }
                fusedInto[producer] = activation
            default:
                continue
            }
            skipped.insert(i)
            absorbed[producer, default: []].append(node.name)
            renamed[producer] = node.output
            writer[node.output] = producer
        }

        // Views: an unobserved reshape's output is its input's buffer. `root`
        // maps a value to the value whose slot holds it.
        var root = [String: String]()
        func rootOf(_ value: String) -> String { root[value] ?? value }
        for (i, node) in graph.nodes.enumerated() where !skipped.contains(i) {
            if case .reshape = node.op, !observable.contains(node.output) {
                root[node.output] = rootOf(node.inputs[0])
                skipped.insert(i)
            }
        }

        // What each step reads: its node's inputs, and a fused Add's residual.
        func stepInputs(_ i: Int) -> [String] { graph.nodes[i].inputs + [residualInto[i]].compactMap { $0 } }

        // Liveness: the last step index that reads each buffer.
        var lastUse = [String: Int]()
        for i in graph.nodes.indices where !skipped.contains(i) {
            for input in stepInputs(i) { lastUse[rootOf(input)] = i }
        }

        var slotCounts = [Int]()
        var free = [Int]()
        var slotOf = [String: Int]()
        func allocate(_ count: Int) -> Int {
            if let best = free.indices.max(by: { slotCounts[free[$0]] < slotCounts[free[$1]] }) {
                let slot = free.remove(at: best)
                slotCounts[slot] = max(slotCounts[slot], count)
                return slot
            }
            slotCounts.append(count)
            return slotCounts.count - 1
        }

        var exports = [Export]()
        var exportIndex = [String: Int]()
        for value in graph.outputs + keep where exportIndex[value] == nil {
            exportIndex[value] = exports.count
            exports.append(Export(value: value, shape: shapes[value]!))
        }

        let inputCount = graph.input.shape.reduce(1, *)
        let inputBorrowed = quantizers[graph.input.name] == nil
        let inputSlot = allocate(inputBorrowed ? 0 : inputCount)
        slotOf[graph.input.name] = inputSlot
        var steps = [Step]()
        var workspace = 0
        for (i, node) in graph.nodes.enumerated() where !skipped.contains(i) {
            let output = renamed[i] ?? node.output
            let outShape = shapes[output]!
            let inputs = stepInputs(i)
            let inShapes = inputs.map { shapes[$0]! }
            let kernel = Kernel(node.op, inputs: inShapes, output: shapes[node.output]!, engine: engine, tuning: tuning,
                                integer: integerLayers[node.id])
            switch kernel {
            case let .conv(conv): workspace = max(workspace, conv.workspaceCount)
            case let .integerConv(conv): workspace = max(workspace, conv.workspaceCount)
            case let .maxPool(_, _, inH, _, _, outW): workspace = max(workspace, inH * outW)   // row-max scratch
            default: break
            }
            let inputSlots = inputs.map { slotOf[rootOf($0)]! }
            // Kernels stream from inputs to output, so the output takes a slot
            // that none of the inputs holds; inputs read for the last time are
            // freed after it (a borrowed input never is: it is not ours to write).
            let outSlot = allocate(outShape.reduce(1, *))
            slotOf[output] = outSlot
            for input in Set(inputs.map(rootOf)) where lastUse[input] == i {
                if !(inputBorrowed && input == graph.input.name) { free.append(slotOf[input]!) }
            }
            // An output nobody reads (a graph output) is exported right after
            // this step, so its slot can be reused by the next one.
            if lastUse[output] == nil { free.append(outSlot) }
            let exported = [exportIndex[output]].compactMap { $0 }
            let direct = lastUse[output] == nil && exported.count == 1
            steps.append(Step(node: node.name, fused: absorbed[i] ?? [], kernel: kernel, outputShape: outShape, inputSlots: inputSlots,
                              inputCounts: inShapes.map { $0.reduce(1, *) },
                              outputSlot: outSlot, outputCount: outShape.reduce(1, *),
                              activation: fusedInto[i], affine: affineInto[i],
                              outputQuantizer: quantizers[output], residualQuantizer: residualQuantizer[i],
                              exports: direct ? [] : exported, directExport: direct ? exported[0] : nil))
        }
        self.steps = steps
        self.inputSlot = inputSlot
        self.inputCount = inputCount
        self.slotCounts = slotCounts
        self.workspaceCount = workspace
        self.exports = exports
        self.inputExports = [exportIndex[graph.input.name]].compactMap { $0 }
        self.inputQuantizer = quantizers[graph.input.name]
        self.inputBorrowed = inputBorrowed
    }
}
