import EqGraph
import EqTensor

/// Small rewrites the importer applies after translation.
enum GraphCleanup {
    /// MatMul followed by Add(constant): the Add becomes the linear layer's bias
    /// when the layer's output feeds only that Add and is not a graph output.
    static func fuseLinearBias(_ graph: inout Graph) {
        var changed = true
        while changed {
            changed = false
            let consumers = graph.consumers()
            for (i, node) in graph.nodes.enumerated() {
                guard case var .linear(layer) = node.op,
                      !graph.outputs.contains(node.output),
                      let readers = consumers[node.output], readers.count == 1 else { continue }
                let j = readers[0]
                guard case let .binaryConstant(.add, constant, _) = graph.nodes[j].op,
                      constant.count == 1 || (constant.count == layer.outFeatures && constant.shape.last == layer.outFeatures)
                else { continue }
                let add = constant.count == 1 ? [Float](repeating: constant.data[0], count: layer.outFeatures) : constant.data
                let old = layer.bias?.data ?? [Float](repeating: 0, count: layer.outFeatures)
                layer.bias = Tensor(shape: [layer.outFeatures], data: zip(old, add).map { $0 + $1 })
                graph.nodes[i].op = .linear(layer)
                graph.nodes[i].output = graph.nodes[j].output
                graph.nodes.remove(at: j)
                changed = true
                break
            }
        }
    }

    /// Max(x, lower) then Min(·, upper), each a one-sided per-channel clip,
    /// become one clip when the first feeds only the second and lower ≤ upper.
    static func fuseChannelClips(_ graph: inout Graph) {
        var changed = true
        while changed {
            changed = false
            let consumers = graph.consumers()
            for (i, node) in graph.nodes.enumerated() {
                guard case let .clipPerChannel(lower, firstUpper) = node.op, firstUpper.allSatisfy({ $0 == .infinity }),
                      !graph.outputs.contains(node.output),
                      let readers = consumers[node.output], readers.count == 1,
                      case let .clipPerChannel(secondLower, upper) = graph.nodes[readers[0]].op,
                      secondLower.allSatisfy({ $0 == -.infinity }), zip(lower, upper).allSatisfy({ $0 <= $1 }) else { continue }
                let j = readers[0]
                graph.nodes[j].op = .clipPerChannel(lower: lower, upper: upper)
                graph.nodes[j].inputs = node.inputs
                graph.nodes.remove(at: i)
                changed = true
                break
            }
        }
    }

    /// Drops nodes whose outputs nobody reads and that are not graph outputs.
    static func removeUnusedNodes(_ graph: inout Graph) {
        var needed = Set(graph.outputs)
        var keep = [Bool](repeating: false, count: graph.nodes.count)
        for i in graph.nodes.indices.reversed() where needed.contains(graph.nodes[i].output) {
            keep[i] = true
            graph.nodes[i].inputs.forEach { needed.insert($0) }
        }
        graph.nodes = graph.nodes.indices.filter { keep[$0] }.map { graph.nodes[$0] }
    }
}
