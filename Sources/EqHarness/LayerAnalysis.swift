import EqGraph
import EqQuant
import EqRuntime
import EqTensor
import Foundation

/// One row of `layers.csv`: a weighted layer's output or a quantized
/// activation, under one model, variant and precision.
public struct LayerRecord: ReadableReportRecord, Equatable, Sendable {
    public static let requiredColumns = 11
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("precision", \.precision), .text("node", \.node),
         .text("op", \.op), .integer("out_channels", \.outChannels),
         .init("sqnr_cumulative_db", number: true, { decibels($0.sqnrCumulative) }, read: { $0.sqnrCumulative = try parseNumber($1) }),
         .init("sqnr_local_db", number: true, { decibels($0.sqnrLocal) }, read: { $0.sqnrLocal = try parseNumber($1) }),
         .init("weight_range_ratio", number: true, { $0.weightRangeRatio.map { $0.isFinite ? String(format: "%.2f", $0) : "inf" } ?? "" },
               read: { $0.weightRangeRatio = try parseNumber($1) }),
         .significant("act_min", \.activationMin, 6), .significant("act_max", \.activationMax, 6)]
    }

    public var model = ""
    public var variant = ""
    public var precision = ""
    public var node = ""
    public var op = ""
    public var outChannels = 0
    public var sqnrCumulative = 0.0
    public var sqnrLocal = 0.0
    public var weightRangeRatio: Double?
    /// The activation's calibrated range (nil where none is quantized).
    public var activationMin: Double?
    public var activationMax: Double?

    public init() {}

    public init(model: String, variant: String, precision: String, node: String, op: String, outChannels: Int,
                sqnrCumulative: Double, sqnrLocal: Double, weightRangeRatio: Double?, activationRange: (min: Float, max: Float)?) {
        (self.model, self.variant, self.precision, self.node, self.op) = (model, variant, precision, node, op)
        (self.outChannels, self.sqnrCumulative, self.sqnrLocal, self.weightRangeRatio) = (outChannels, sqnrCumulative, sqnrLocal, weightRangeRatio)
        (activationMin, activationMax) = (activationRange.map { Double($0.min) }, activationRange.map { Double($0.max) })
    }

    public static func == (a: LayerRecord, b: LayerRecord) -> Bool { a.fields == b.fields }
}

/// Signal-to-quantization-noise ratio, SQNR = 10·log10(Σ x² / Σ (x − x̂)²) in dB,
/// with both sums in Double, accumulated in a fixed order (four vectors of
/// eight lanes, then the tail) in image order, so the result does not depend
/// on the thread count. No error at all is +∞ dB. Four partial sums of each,
/// so consecutive vectors' adds do not wait on each other (commit 5a39cd6).
public struct SQNRAccumulator: Sendable {
    public private(set) var signal = 0.0
    public private(set) var noise = 0.0

    public init() {}

    public mutating func add(reference: ArraySlice<Float>, quantized: ArraySlice<Float>) {
        reference.withUnsafeBufferPointer { x in
            quantized.withUnsafeBufferPointer { y in add(reference: x, quantized: y) }
        }
    }

    /// Adds Σ x² and Σ (x − x̂)² over equal-length buffers of x and x̂.
    public mutating func add(reference x: UnsafeBufferPointer<Float>, quantized y: UnsafeBufferPointer<Float>) {
        precondition(x.count == y.count, "SQNR of \(x.count) values against \(y.count)")
        let count = x.count
        guard count > 0 else { return }
        typealias D = SIMD8<Double>
        var s = (D(), D(), D(), D()), n = (D(), D(), D(), D())
        let xr = UnsafeRawPointer(x.baseAddress!), yr = UnsafeRawPointer(y.baseAddress!)
        @inline(__always) func take(_ at: Int, _ signal: inout D, _ noise: inout D) {
            let xd = D(xr.loadUnaligned(fromByteOffset: at * 4, as: SIMD8<Float>.self))
            let d = xd - D(yr.loadUnaligned(fromByteOffset: at * 4, as: SIMD8<Float>.self))
            signal += xd * xd
            noise += d * d
        }
        var i = 0
        while i + 32 <= count {
            take(i, &s.0, &n.0); take(i + 8, &s.1, &n.1); take(i + 16, &s.2, &n.2); take(i + 24, &s.3, &n.3)
            i += 32
        }
        while i + 8 <= count {
            take(i, &s.0, &n.0)
            i += 8
        }
        var tailSignal = 0.0, tailNoise = 0.0
        while i < count {
            let xd = Double(x[i]), d = xd - Double(y[i])
            tailSignal += xd * xd
            tailNoise += d * d
            i += 1
        }
        signal += ((s.0 + s.1) + (s.2 + s.3)).sum() + tailSignal
        noise += ((n.0 + n.1) + (n.2 + n.3)).sum() + tailNoise
    }

    public var decibels: Double {
        if noise == 0 { return .infinity }
        if signal == 0 { return -.infinity }
        return 10 * log10(signal / noise)
    }
}

func decibels(_ value: Double) -> String {
    value.isFinite ? String(format: "%.2f", value) : (value > 0 ? "inf" : "-inf")
}

/// Per-layer SQNR of one quantized model: **cumulative** (float run vs the
/// whole model quantized, errors accumulated from earlier layers) and
/// **local** (only this layer quantized: its weights and its output quantizer,
/// fed with the float run's inputs), so the layer that hurts stands apart from
/// the layers that inherit the damage.
struct LayerAnalysis: @unchecked Sendable {
    struct Row {
        var node: String
        var op: String
        var value: String
        /// For weighted layers: an executor of the layer alone, quantized.
        var local: Executor?
        var input: String?
        var cumulative = SQNRAccumulator()
        var localSQNR = SQNRAccumulator()
        var channels: Int
        var weightRangeRatio: Double?
    }

    var rows: [Row]
    let threads: Int
    let float: Executor
    let quantized: Executor
    let quantizers: [String: FakeQuantizer]

    /// The float and quantized executors come from `statistics` (the service
    /// over the analysed images), so every precision of a variant shares the
    /// compiled float graph; each layer's one-node graph is compiled here.
    init(plan: QuantPlan, quantizedGraph: Graph, calibration: Calibration, statistics: StatisticsService) throws {
        float = try statistics.executor(for: plan.graph)
        quantized = try statistics.executor(for: quantizedGraph, activationQuantizers: calibration.quantizers)
        quantizers = calibration.quantizers
        threads = statistics.threads
        let shapes = float.shapes
        let quantizedValues = Set(plan.quantizedValues)
        var rows = [Row(node: plan.graph.input.name, op: "Input", value: plan.graph.input.name,
                        channels: plan.graph.input.shape.first ?? 1)]
        for (i, node) in plan.graph.nodes.enumerated() {
            let weighted = node.op.isWeightedLayer
            guard weighted || quantizedValues.contains(node.output) else { continue }
            var row = Row(node: node.name, op: node.op.typeName, value: node.output, channels: shapes[node.output]!.first ?? 1)
            if weighted {
                let alone = Graph(name: node.name, input: GraphInput(name: node.inputs[0], shape: shapes[node.inputs[0]]!),
                                  nodes: [quantizedGraph.nodes[i]], outputs: [node.output])
                row.local = try Executor(graph: alone, threads: 1,
                                         activationQuantizers: quantizers[node.output].map { [node.output: $0] } ?? [:])
                row.input = node.inputs[0]
                row.weightRangeRatio = Self.rangeRatio(node.op)
            }
            rows.append(row)
        }
        self.rows = rows
    }

    /// Images per `add` call so the tapped outputs of both runs stay within
    /// `maxBytes` (at least 1): the analysis holds every analysed layer's
    /// output of the images it adds at once, twice.
    func partSize(maxBytes: Int) -> Int {
        func floats(_ value: String) -> Int { float.shapes[value].map { $0.reduce(1, *) } ?? 0 }
        let reference = Set(rows.map(\.value) + rows.compactMap(\.input)).map(floats).reduce(0, +)
        let simulated = rows.map { floats($0.value) }.reduce(0, +)
        let bytesPerImage = max(1, (reference + simulated) * MemoryLayout<Float>.size)
        return max(1, maxBytes / bytesPerImage)
    }

    /// Adds every image of `statistics` in parts of at most `maxBytes` of taps.
    mutating func addAll(from statistics: StatisticsService, maxBytes: Int) throws {
        var analysis = self
        try statistics.forEachImagePart(maxImages: partSize(maxBytes: maxBytes)) { try analysis.add($0) }
        self = analysis
    }

    /// max over channels of (max − min) divided by the min over channels.
    static func rangeRatio(_ op: Op) -> Double? {
        let weight: Tensor
        switch op {
        case let .conv(layer): weight = layer.weight
        case let .linear(layer): weight = layer.weight
        default: return nil
        }
        let spans = weight.channelRanges(perChannel: true).ranges.map { Double($0.max - $0.min) }
        guard let widest = spans.max(), let narrowest = spans.min() else { return nil }
        return narrowest > 0 ? widest / narrowest : .infinity
    }

    /// Adds one batch of images to every row's sums. Rows are independent, so
    /// they are spread over the workers; each row's sums still follow image
    /// order, so results do not depend on the thread count.
    mutating func add(_ batch: Tensor) throws {
        let values = Array(Set(rows.map(\.value) + rows.compactMap(\.input)))
        let reference = try float.run(batch, taps: values).taps
        let simulated = try quantized.run(batch, taps: rows.map(\.value)).taps
        let count = rows.count, workers = max(1, min(threads, count))
        let analysis = self
        let failures = FirstError()
        var updated = rows
        updated.withUnsafeMutableBufferPointer { buffer in
            let rowsPointer = RowsPointer(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for r in stride(from: worker, to: count, by: workers) {
                    do {
                        try analysis.accumulate(&rowsPointer.base[r], reference: reference, simulated: simulated)
                    } catch {
                        failures.record(error)
                    }
                }
            }
        }
        if let failure = failures.error { throw failure }
        rows = updated
    }

    func accumulate(_ row: inout Row, reference: [String: Tensor], simulated: [String: Tensor]) throws {
        let x = reference[row.value]!.data
        let y = simulated[row.value]!.data
        row.cumulative.add(reference: x[...], quantized: y[...])
        if let local = row.local, let input = row.input {
            let yl = try local.run(reference[input]!).outputs[0].data
            row.localSQNR.add(reference: x[...], quantized: yl[...])
        } else if let q = quantizers[row.value] {
            // The float value through its own quantizer alone.
            let alone = [Float](unsafeUninitializedCapacity: x.count) { buffer, initialized in
                x.withUnsafeBufferPointer { q.apply(from: $0.baseAddress!, to: buffer.baseAddress!, count: x.count) }
                initialized = x.count
            }
            row.localSQNR.add(reference: x[...], quantized: alone[...])
        }
    }
}

/// The first error thrown by any of the concurrent workers.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?
    func record(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
}

/// Rows updated by concurrent workers, each at its own index.
struct RowsPointer: @unchecked Sendable {
    let base: UnsafeMutablePointer<LayerAnalysis.Row>
    init(_ base: UnsafeMutablePointer<LayerAnalysis.Row>) { self.base = base }
}
