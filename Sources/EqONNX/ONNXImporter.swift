import EqGraph
import EqTensor
import Foundation
import SwiftProtobuf

/// Imports ONNX models (opsets 11 to 21) into eqbench's `Graph` IR.
///
/// What it does beyond a one-to-one translation:
/// - parameters (initializers, Constant nodes) move into the ops that use them,
///   so each layer owns its weights; Gemm/MatMul become `[out, in]` linear
///   layers with transposes and alpha/beta folded in; a MatMul followed by the
///   Add of a constant becomes one linear layer with a bias;
/// - shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Cast on
///   shape tensors, as exporters emit around Reshape and Flatten) is folded to
///   constants from the known input shape, with the batch size kept symbolic;
/// - Identity and inference-mode Dropout disappear; a zero-valued constant Pad
///   whose only readers are convolutions is folded into their pads;
/// - every unsupported op type is reported at once, with the first node of each.
public enum ONNXImporter {
    /// The ai.onnx opset versions whose semantics eqbench implements.
    public static let supportedOpsets = 11...21

    /// Reads and imports an ONNX file.
    public static func load(contentsOf url: URL) throws -> Graph {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: url.path)
                ? "permission denied or not a regular file" : "no such file"
            throw ONNXImportError.unreadable(file: url.path, reason: reason)
        }
        return try importModel(serialized: data, source: url.path,
                               name: url.deletingPathExtension().lastPathComponent,
                               directory: url.deletingLastPathComponent())
    }

    /// Imports a serialized ModelProto; `source` names it in errors.
    /// Imports a serialized ModelProto; `source` names it in errors, and
    /// `directory` (the model's folder) is where external weight files live.
    public static func importModel(serialized data: Data, source: String, name: String = "model",
                                   directory: URL? = nil) throws -> Graph {
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw ONNXImportError.notONNX(file: source, reason: data.isEmpty ? "the file is empty" : "protobuf parsing failed (\(error)); the file may be truncated or not an ONNX model")
        }
        guard model.irVersion > 0, model.hasGraph, !model.graph.node.isEmpty else {
            throw ONNXImportError.notONNX(file: source, reason: "no ir_version or no graph with nodes")
        }
        let opset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) } ?? 0
        guard supportedOpsets.contains(opset) else {
            throw ONNXImportError.invalid(file: source, node: "(model)", message: "ai.onnx opset \(opset) is not supported; eqbench reads opsets \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound)")
        }
        var context = ImportContext(file: source, opset: opset, graph: model.graph)
        context.externalDirectory = directory
        return try context.run(name: name)
    }
}

/// The state of one import: constants, per-sample shapes of activations,
/// aliases left by removed nodes, and the nodes built so far.
struct ImportContext {
    let file: String
    let opset: Int
    let proto: Onnx_GraphProto

    var constants = [String: ConstantValue]()
    var shapes = [String: [Int]]()
    var aliases = [String: String]()
    var nodes = [Node]()
    var nodeNames = Set<String>()
    /// Zero-valued Pads folded into the convolutions that read them: the Pad's
    /// output name → its input and (top, left, bottom, right) padding.
    var foldedPads = [String: (input: String, pads: [Int])]()
    /// For each ONNX value, the op types of the nodes that read it.
    var readers = [String: [String]]()
    var graphOutputs = Set<String>()
    /// The folder external tensor data is read from (nil: in-memory import).
    var externalDirectory: URL?
    var unsupported = [ONNXImportError.UnsupportedItem]()
    /// Values whose producer was unsupported; their readers are skipped.
    var poisoned = Set<String>()

    init(file: String, opset: Int, graph: Onnx_GraphProto) {
        self.file = file
        self.opset = opset
        self.proto = graph
        for node in graph.node {
            for input in node.input where !input.isEmpty { readers[input, default: []].append(node.opType) }
        }
        graphOutputs = Set(graph.output.map(\.name))
    }

    func invalid(_ node: String, _ message: String) -> ONNXImportError {
        .invalid(file: file, node: node, message: message)
    }

    mutating func run(name: String) throws -> Graph {
        try checkOpTypes()
        let reader = externalDirectory.map { ExternalData(directory: $0, model: file) }
        for initializer in proto.initializer {
            do {
                constants[initializer.name] = try TensorDecoder.decode(initializer, external: reader?.read)
            } catch let failure as TensorDecoder.Failure {
                throw invalid(initializer.name, failure.message)
            }
        }
        let input = try dataInput()
        shapes[input.name] = input.shape

        for (index, node) in proto.node.enumerated() {
            let nodeName = uniqueName(node.name.isEmpty ? "\(node.opType)_\(index)" : node.name)
            if node.input.contains(where: { poisoned.contains(resolve($0)) }) {
                node.output.forEach { poisoned.insert($0) }
                continue
            }
            do {
                try convert(node, name: nodeName)
            } catch let problem as Unsupported {
                record(ONNXImportError.UnsupportedItem(opType: node.opType, firstNode: nodeName, detail: problem.detail))
                node.output.forEach { poisoned.insert($0) }
            } catch let problem as Invalid {
                throw invalid(nodeName, problem.message)
            } catch let failure as TensorDecoder.Failure {
                throw invalid(nodeName, failure.message)
            }
        }
        if !unsupported.isEmpty { throw ONNXImportError.unsupported(file: file, items: unsupported) }

        var outputs = [String]()
        for output in proto.output {
            let value = resolve(output.name)
            guard shapes[value] != nil else {
                throw invalid(output.name, constants[value] != nil
                    ? "graph output is a constant; eqbench evaluates outputs computed from the input"
                    : "graph output is never computed")
            }
            outputs.append(value)
        }
        var graph = Graph(name: name, input: input, nodes: nodes, outputs: outputs)
        GraphCleanup.fuseLinearBias(&graph)
        GraphCleanup.fuseChannelClips(&graph)
        GraphCleanup.removeUnusedNodes(&graph)
        do {
            _ = try graph.inferShapes()
        } catch let error as GraphError {
            throw invalid(error.node, error.message)
        }
        return graph
    }

    /// Fails with one error listing every op type eqbench cannot run.
    func checkOpTypes() throws {
        var items = [ONNXImportError.UnsupportedItem]()
        var seen = Set<String>()
        for (index, node) in proto.node.enumerated() {
            let domain = node.domain
            let known = (domain.isEmpty || domain == "ai.onnx") && ImportContext.supportedOpTypes.contains(node.opType)
            let label = domain.isEmpty || domain == "ai.onnx" ? node.opType : "\(domain)::\(node.opType)"
            if !known && seen.insert(label).inserted {
                items.append(.init(opType: label, firstNode: node.name.isEmpty ? "\(node.opType)_\(index)" : node.name))
            }
        }
        if !items.isEmpty { throw ONNXImportError.unsupported(file: file, items: items) }
    }

    mutating func record(_ item: ONNXImportError.UnsupportedItem) {
        if !unsupported.contains(where: { $0.opType == item.opType && $0.detail == item.detail }) {
            unsupported.append(item)
        }
    }

    /// The single float input that is not an initializer, with its per-sample shape.
    func dataInput() throws -> GraphInput {
        let candidates = proto.input.filter { constants[$0.name] == nil }
        guard candidates.count == 1, let input = candidates.first else {
            throw invalid("(graph)", "eqbench runs models with exactly one data input; this one has \(candidates.count) (\(candidates.map(\.name).joined(separator: ", ")))")
        }
        guard case let .tensorType(type)? = input.type.value, type.elemType == 1 else {
            throw invalid(input.name, "the model input must be a float32 tensor")
        }
        let dims = type.shape.dim.map { dim -> Int? in
            if case let .dimValue(v)? = dim.value, v > 0 { return Int(v) }
            return nil
        }
        guard dims.count >= 2, dims.dropFirst().allSatisfy({ $0 != nil }) else {
            throw invalid(input.name, "the model input needs a known shape after the batch dimension (e.g. [N, 1, 28, 28]); it has \(type.shape.dim.count) dims, some unknown")
        }
        return GraphInput(name: input.name, shape: dims.dropFirst().map { $0! })
    }

    mutating func uniqueName(_ base: String) -> String {
        var name = base
        var suffix = 1
        while nodeNames.contains(name) { suffix += 1; name = "\(base)_\(suffix)" }
        nodeNames.insert(name)
        return name
    }

    /// The value a name stands for after removed Identity/Dropout nodes.
    func resolve(_ name: String) -> String {
        var current = name
        while let next = aliases[current] { current = next }
        return current
    }

    func constant(_ name: String) -> ConstantValue? { constants[resolve(name)] }
    func activationShape(_ name: String) -> [Int]? { shapes[resolve(name)] }

    /// Appends a node, computing and recording its output shape.
    mutating func emit(_ name: String, _ op: Op, inputs: [String], output: String) throws {
        let resolved = inputs.map { resolve($0) }
        let inputShapes = try resolved.map { value -> [Int] in
            guard let shape = shapes[value] else { throw Invalid("input '\(value)' is not an activation computed before this node") }
            return shape
        }
        do {
            shapes[output] = try op.outputShape(inputs: inputShapes, node: name)
        } catch let error as GraphError {
            throw Invalid(error.message)
        }
        guard let count = checkedElementCount(shapes[output]!), count <= Graph.maxValueElements else {
            throw Invalid("its output of shape \(shapes[output]!) would hold more than \(Graph.maxValueElements) elements per image")
        }
        nodes.append(Node(name: name, op: op, inputs: resolved, output: output))
    }
}

/// Thrown by a node conversion when an op or attribute is not supported.
struct Unsupported: Error {
    var detail: String?
    init(_ detail: String? = nil) { self.detail = detail }
}

/// Thrown by a node conversion when the model is inconsistent.
struct Invalid: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
