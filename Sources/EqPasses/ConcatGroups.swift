import EqGraph

/// The concat pairing sets of channel equalization (SiMa.ai's channel_scaling:
/// find_largest_parent_set / scale_concat_parents / scale_concat_children).
///
/// A channel Concat's parents are the single Conv/Gemm layers behind each
/// input, taken through nested Concats in channel order. Concats that share a
/// parent are scaled as one group, because a parent is scaled once: the group's
/// largest parent set decides every parent's scale, and every other set must
/// be a subset of it (the nesting the seed assumes); a group that breaks it,
/// or has a member that cannot be scaled, is skipped whole.
struct ConcatGroups {
    let finder: ChannelRegionFinder
    let regions: [ChannelRegion]
    let regionOf: [String: Int]

    init(finder: ChannelRegionFinder, regions: [ChannelRegion]) {
        self.finder = finder
        self.regions = regions
        var regionOf = [String: Int]()
        for (r, region) in regions.enumerated() { for v in region.values { regionOf[v] = r } }
        self.regionOf = regionOf
    }

    var graph: Graph { finder.graph }

    /// The parent layers of a concat in channel order, or why it has none.
    func parents(of concat: Int) -> Result<[Int], PassError> {
        var result = [Int]()
        for input in graph.nodes[concat].inputs {
            guard let r = regionOf[input] else { return .failure(PassError("input \(input) comes from no Conv/Gemm")) }
            let region = regions[r]
            if let problem = region.problem { return .failure(PassError(problem)) }
            if let inner = region.concatProducer {
                switch parents(of: inner) {
                case let .success(nested): result += nested
                case let .failure(why): return .failure(why)
                }
            } else if region.parents.count == 1, region.adds.isEmpty {
                result.append(region.parents[0])
            } else {
                return .failure(PassError("input \(input) comes from a residual Add"))
            }
        }
        return .success(result)
    }

    func sets() -> ([ChannelEqualization.PairingSet], [ChannelEqualization.Skipped]) {
        let concats = graph.nodes.indices.filter { finder.isChannelConcat(graph.nodes[$0].op, output: graph.nodes[$0].output) }
        let parentLists = concats.map { parents(of: $0) }
        // Group concats whose parent sets (or failures' members) overlap.
        var group = Array(concats.indices)
        func root(_ i: Int) -> Int { group[i] == i ? i : root(group[i]) }
        let memberSets = concats.indices.map { i -> Set<Int> in
            if case let .success(p) = parentLists[i] { return Set(p) }
            return Set(regionMembers(of: concats[i]))
        }
        for i in concats.indices { for j in 0..<i where !memberSets[i].isDisjoint(with: memberSets[j]) { group[root(i)] = root(j) } }

        var sets = [ChannelEqualization.PairingSet]()
        var skipped = [ChannelEqualization.Skipped]()
        for g in Set(concats.indices.map(root)).sorted() {
            let members = concats.indices.filter { root($0) == g }
            let allLayers = Array(Set(members.flatMap { regionMembers(of: concats[$0]) })).sorted()
            switch makeSet(members.map { (concats[$0], parentLists[$0]) }) {
            case let .success(set): sets.append(set)
            case let .failure(why): skipped.append(.init(kind: .concat, members: allLayers, reason: why.message))
            }
        }
        return (sets, skipped)
    }

    /// One group's pairing set, or why it is skipped.
    func makeSet(_ members: [(concat: Int, parents: Result<[Int], PassError>)]) -> Result<ChannelEqualization.PairingSet, PassError> {
        var lists = [(concat: Int, parents: [Int])]()
        for m in members {
            switch m.parents {
            case let .success(p): lists.append((m.concat, p))
            case let .failure(why): return .failure(PassError("\(graph.nodes[m.concat].name): \(why.message)"))
            }
        }
        let largest = lists.max { $0.parents.count < $1.parents.count }!
        for l in lists where !Set(l.parents).isSubset(of: largest.parents) {
            let names = { (p: [Int]) in "{" + p.map { graph.nodes[$0].name }.joined(separator: ", ") + "}" }
            return .failure(PassError("concat parent sets do not nest: \(names(l.parents)) of \(graph.nodes[l.concat].name) "
                + "and \(names(largest.parents)) of \(graph.nodes[largest.concat].name)"))
        }
        var layout = [Int: [Int]]()
        for p in largest.parents { layout[regionOf[graph.nodes[p].output]!] = [p] }
        for l in lists {
            let r = regionOf[graph.nodes[l.concat].output]!
            let out = regions[r]
            if let problem = out.problem { return .failure(PassError("output of \(graph.nodes[l.concat].name): \(problem)")) }
            if !out.adds.isEmpty { return .failure(PassError("output of \(graph.nodes[l.concat].name) feeds a residual Add")) }
            layout[r] = l.parents
        }
        let parentRegions = largest.parents.map { regionOf[graph.nodes[$0].output]! }
        let ordered = parentRegions + layout.keys.filter { !parentRegions.contains($0) }.sorted()
        let children = Array(Set(ordered.flatMap { regions[$0].children })).sorted()
        return .success(.init(kind: .concat, regions: ordered, parents: largest.parents, children: children, layout: layout))
    }

    /// The layers touching a concat's input and output regions (for reports).
    func regionMembers(of concat: Int) -> [Int] {
        let node = graph.nodes[concat]
        return (node.inputs + [node.output]).compactMap { regionOf[$0] }.flatMap { regions[$0].parents + regions[$0].children }
    }
}
