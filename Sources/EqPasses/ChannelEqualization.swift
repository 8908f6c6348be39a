import EqGraph
import EqTensor
import Foundation

/// Activation-based channel equalization (Meller et al. 2019, "Same, Same But
/// Different"; SiMa.ai's `channel_scaling`).
///
/// For a parent layer with per-output-channel weight range w_i = max|W_i| and
/// observed output range a_i = max|y_i| (calibration images),
///
///   s_i = clamp(min(max_j w_j / (w_i + ε), max_j a_j / (a_i + ε)), 1, 20),  ε = 1e-30,
///
/// i.e. each channel is enlarged until its weights or its activations reach
/// the layer's largest, but by no more than 20. Output channel i of the parent
/// (weights and bias) is multiplied by s_i and input channel i of every child
/// divided by it, which leaves the float function unchanged while the small
/// channels use more of the per-tensor quantization grid.
///
/// Pairing sets (`ChannelRegion`s) come in three kinds:
/// - **single**: one parent whose output reaches only Conv/Gemm children;
/// - **concat**: channel Concats of single-parent inputs. Each parent's scales
///   are multiplied by M / m_p, where m_p is its largest scaled activation and
///   M the largest over the parents, so all reach a common max, then clamped;
///   children get the concatenation. Concats sharing a parent form a group
///   whose parent sets must nest (the seed's assumption); a group that breaks
///   it is skipped with the reason;
/// - **residual**: Adds connected through Adds with all their parents and
///   children. All share one scale, the per-channel minimum of the parents'
///   own scales; a family with any member that is not a Conv/Gemm is skipped.
///
/// Every activation belongs to one region, so each layer is scaled at most once
/// as a parent and once as a child.
public struct ChannelEqualization: GraphPass {
    public static let epsilon: Float = 1e-30
    public static let defaultBounds: ClosedRange<Float> = 1...20

    public let name = "chaneq"
    public let floatEffect = FloatEffect.preserves
    public let needsCalibrationData = true
    /// EQUALIZATION_MINVAL ... EQUALIZATION_MAXVAL.
    public var scaleBounds: ClosedRange<Float>

    public init(scaleBounds: ClosedRange<Float> = Self.defaultBounds) { self.scaleBounds = scaleBounds }

    public enum Kind: String, Sendable { case single, concat, residual }

    /// A pairing set: the regions scaled together and their layers.
    public struct PairingSet: Sendable {
        public var kind: Kind
        /// Indices into the finder's regions: for a concat group, the parent
        /// regions first (in the order of the largest concat), then the outputs.
        var regions: [Int]
        public var parents: [Int]
        public var children: [Int]
        /// Concat groups: the parent layers whose scales, joined, scale each region.
        var layout: [Int: [Int]] = [:]
    }

    /// A candidate left alone, with the reason.
    public struct Skipped: Sendable {
        public var kind: Kind
        public var members: [Int]
        public var reason: String
    }

    /// The scales of one parent: s, the largest activation before (a_max) and
    /// after scaling (max_i a_i·s_i), as SiMa.ai's get_equalization_scale.
    public static func scales(weightRange w: [Float], activationRange a: [Float],
                              bounds: ClosedRange<Float> = defaultBounds) -> (scales: [Float], maxActivation: Float, newMax: Float) {
        let wMax = w.max() ?? 0, aMax = a.max() ?? 0
        var newMax: Float = 0
        let s = zip(w, a).map { wi, ai in
            let raw = min(wMax / (wi + epsilon), aMax / (ai + epsilon))
            let si = min(max(raw, bounds.lowerBound), bounds.upperBound)
            newMax = max(newMax, ai * si)
            return si
        }
        return (s, aMax, newMax)
    }

    /// The pairing sets and skipped candidates of `graph` (no data needed).
    public func find(in graph: Graph) throws -> (sets: [PairingSet], skipped: [Skipped], regions: [ChannelRegion]) {
        let finder = try ChannelRegionFinder(graph: graph)
        let regions = finder.regions()
        var sets = [PairingSet]()
        var skipped = [Skipped]()
        for (r, region) in regions.enumerated() where region.concatReaders.isEmpty && region.concatProducer == nil {
            let kind: Kind = region.adds.isEmpty ? .single : .residual
            if let problem = region.problem {
                skipped.append(Skipped(kind: kind, members: region.parents + region.children, reason: problem))
            } else if region.children.isEmpty {
                skipped.append(Skipped(kind: kind, members: region.parents, reason: "no Conv/Gemm reads it"))
            } else {
                sets.append(PairingSet(kind: kind, regions: [r], parents: region.parents, children: region.children))
            }
        }
        let (concatSets, concatSkipped) = ConcatGroups(finder: finder, regions: regions).sets()
        return (sets + concatSets, skipped + concatSkipped, regions)
    }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        let service = try context.requireStatistics(for: name)
        let (sets, skipped, regions) = try find(in: graph)
        report.setsFound = sets.count + skipped.count
        let observed = Array(Set(sets.flatMap(\.parents).map { graph.nodes[$0].output })).sorted()
        let statistics = observed.isEmpty ? [:]
            : try service.channelRanges(of: observed, in: graph)
        func parentScales(_ p: Int) -> (scales: [Float], maxActivation: Float, newMax: Float) {
            let stats = statistics[graph.nodes[p].output]!
            return Self.scales(weightRange: LayerScaling.outputRanges(graph.nodes[p].op),
                               activationRange: zip(stats.min, stats.max).map { max(abs($0), abs($1)) }, bounds: scaleBounds)
        }
        var labels = [Int: String]()
        for set in sets {
            var regionScales = [Int: [Float]]()
            switch set.kind {
            case .single:
                regionScales[set.regions[0]] = parentScales(set.parents[0]).scales
            case .residual:
                let perParent = set.parents.map { parentScales($0).scales }
                regionScales[set.regions[0]] = perParent.dropFirst().reduce(perParent[0]) { zip($0, $1).map(min) }
            case .concat:
                regionScales = concatScales(set, parentScales: parentScales)
            }
            for (r, s) in regionScales { scale(regions[r], by: s, in: &graph, context: &context) }
            let all = regionScales.values.flatMap { $0 }
            report.noteScales(all)
            if all.contains(where: { $0 != 1 }) { report.setsScaled += 1 }
            let label = describe(set, graph: graph) + String(format: " (scale %.3g–%.3g)", all.min() ?? 1, all.max() ?? 1)
            for layer in set.parents + set.children where labels[layer] == nil { labels[layer] = label }
        }
        report.coverage = coverage(graph: graph, labels: labels, skipped: skipped)
        let count = { (kind: Kind) in sets.filter { $0.kind == kind }.count }
        report.details = "\(count(.single)) single, \(count(.concat)) concat, \(count(.residual)) residual set(s); "
            + "\(skipped.count) skipped; scales clamped to \(scaleBounds.lowerBound)...\(scaleBounds.upperBound)"
        return report
    }

    /// Scale vectors of a concat group: each parent's own scales brought to the
    /// common max and clamped; every concat output gets its inputs' vectors joined.
    func concatScales(_ set: PairingSet, parentScales: (Int) -> (scales: [Float], maxActivation: Float, newMax: Float)) -> [Int: [Float]] {
        let own = set.parents.map(parentScales)
        let common = own.map(\.newMax).max() ?? 0
        var byParent = [Int: [Float]]()
        for (p, scales) in zip(set.parents, own) {
            let factor = scales.newMax > 0 ? common / scales.newMax : 1
            byParent[p] = scales.scales.map { min(max($0 * factor, scaleBounds.lowerBound), scaleBounds.upperBound) }
        }
        return set.layout.mapValues { parents in parents.flatMap { byParent[$0]! } }
    }

    /// Multiplies the region's parents' outputs by s, scales clips between,
    /// divides the children's inputs by s.
    func scale(_ region: ChannelRegion, by s: [Float], in graph: inout Graph, context: inout PassContext) {
        guard s.contains(where: { $0 != 1 }) else { return }
        let inverse = s.map { 1 / $0 }
        for p in region.parents {
            LayerScaling.divideOutputs(&graph.nodes[p].op, by: inverse)
            context.outputsDivided(graph.nodes[p].id, by: inverse)
        }
        for b in region.between { LayerScaling.divideBetween(&graph.nodes[b].op, by: inverse) }
        for c in region.children { LayerScaling.multiplyInputs(&graph.nodes[c].op, by: inverse) }
    }

    /// "kind: parents → children" with node names.
    public func describe(_ set: PairingSet, graph: Graph) -> String {
        let names = { (nodes: [Int]) in nodes.map { graph.nodes[$0].name }.joined(separator: ", ") }
        return "\(set.kind.rawValue): \(names(set.parents)) → \(names(set.children))"
    }

    func coverage(graph: Graph, labels: [Int: String], skipped: [Skipped]) -> [CoverageEntry] {
        var reasons = [Int: String]()
        for s in skipped { for m in s.members where reasons[m] == nil { reasons[m] = "\(s.kind.rawValue) set skipped: \(s.reason)" } }
        return graph.nodes.enumerated().filter { $0.element.op.isWeightedLayer }.map { i, node in
            if let label = labels[i] {
                return CoverageEntry(node: node.name, op: node.op.typeName, set: label, status: .equalized, reason: "")
            }
            return CoverageEntry(node: node.name, op: node.op.typeName, set: "", status: .skipped,
                                 reason: reasons[i] ?? "in no pairing set")
        }
    }
}
