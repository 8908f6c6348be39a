@testable import EqONNX
import EqGraph
import EqTensor
import Foundation
import XCTest

final class ImportTests: XCTestCase {
    func importGraph(_ builder: ModelBuilder) throws -> Graph {
        try ONNXImporter.importModel(serialized: builder.data(), source: "test.onnx")
    }

    func testGemmTransposesAndScalarsAreFoldedIntoWeights() throws {
        var b = ModelBuilder(shape: [nil, 3])
        // B stored [in=3, out=2] (transB = 0); alpha 2, beta 0.5, C = [1, 2].
        b.initializer("B", [3, 2], [1, 2, 3, 4, 5, 6])
        b.initializer("C", [2], [1, 2])
        b.node("Gemm", ["x", "B", "C"], ["y"], name: "fc", float: ["alpha": 2, "beta": 0.5])
        b.output("y")
        let graph = try importGraph(b)
        guard case let .linear(layer) = graph.nodes[0].op else { return XCTFail("expected a linear layer") }
        XCTAssertEqual(layer.weight.shape, [2, 3])
        XCTAssertEqual(layer.weight.data, [2, 6, 10, 4, 8, 12])
        XCTAssertEqual(layer.bias?.data, [0.5, 1])
    }

    func testMatMulFollowedByAddBecomesOneLinearLayer() throws {
        var b = ModelBuilder(shape: [nil, 2])
        b.initializer("W", [2, 2], [1, 2, 3, 4])
        b.initializer("bias", [2], [0.5, -0.5])
        b.node("MatMul", ["x", "W"], ["m"], name: "mm")
        b.node("Add", ["m", "bias"], ["y"], name: "add")
        b.output("y")
        let graph = try importGraph(b)
        XCTAssertEqual(graph.nodes.count, 1)
        guard case let .linear(layer) = graph.nodes[0].op else { return XCTFail("expected a linear layer") }
        XCTAssertEqual(layer.weight.data, [1, 3, 2, 4])
        XCTAssertEqual(layer.bias?.data, [0.5, -0.5])
        XCTAssertEqual(graph.outputs, ["y"])
    }

    /// x.view(x.size(0), -1) as the TorchScript exporter writes it.
    func testShapeArithmeticInFrontOfReshapeIsFolded() throws {
        var b = ModelBuilder(shape: [nil, 2, 3, 3])
        b.node("Shape", ["x"], ["s"])
        b.intInitializer("zero", [0], scalar: true)
        b.node("Gather", ["s", "zero"], ["n"], int: ["axis": 0])
        b.intInitializer("axes", [0])
        b.node("Unsqueeze", ["n", "axes"], ["n1"])
        b.intInitializer("minus1", [-1])
        b.node("Concat", ["n1", "minus1"], ["target"], int: ["axis": 0])
        b.node("Reshape", ["x", "target"], ["y"], name: "flatten")
        b.output("y")
        let graph = try importGraph(b)
        XCTAssertEqual(graph.nodes.count, 1)
        XCTAssertEqual(graph.nodes.first?.op.typeName, "Reshape")
        guard case let .reshape(to)? = graph.nodes.first?.op else { return XCTFail("expected a reshape") }
        XCTAssertEqual(to, [18])
    }

    func testZeroPadInFrontOfConvFoldsIntoItsPads() throws {
        var b = ModelBuilder(shape: [nil, 1, 4, 4])
        b.intInitializer("pads", [0, 0, 0, 0, 0, 0, 1, 1])   // bottom/right only, as TF "same"
        b.node("Pad", ["x", "pads"], ["p"], name: "pad")
        b.initializer("w", [1, 1, 3, 3], [Float](repeating: 1, count: 9))
        b.node("Conv", ["p", "w"], ["y"], name: "conv", ints: ["strides": [2, 2]])
        b.output("y")
        let graph = try importGraph(b)
        XCTAssertEqual(graph.nodes.count, 1)
        guard case let .conv(conv) = graph.nodes[0].op else { return XCTFail("expected a conv") }
        XCTAssertEqual([conv.geometry.padTop, conv.geometry.padLeft, conv.geometry.padBottom, conv.geometry.padRight], [0, 0, 1, 1])
        XCTAssertEqual(try graph.inferShapes()["y"], [1, 2, 2])
    }

    func testClipWithConstantNodeBoundsIsReLU6() throws {
        var b = ModelBuilder()
        var lo = Onnx_TensorProto(); lo.dataType = 1; lo.floatData = [0]
        var hi = Onnx_TensorProto(); hi.dataType = 1; hi.floatData = [6]
        b.node("Constant", [], ["lo"], tensor: ("value", lo))
        b.node("Constant", [], ["hi"], tensor: ("value", hi))
        b.node("Clip", ["x", "lo", "hi"], ["y"], name: "relu6")
        b.output("y")
        XCTAssertEqual(try importGraph(b).nodes[0].op, .activation(.clip(lower: 0, upper: 6)))
    }

    func testFloat16AndRawDataInitializersAreConverted() throws {
        var b = ModelBuilder(shape: [nil, 2])
        var w = Onnx_TensorProto()
        w.name = "W"; w.dims = [2, 2]; w.dataType = 10
        // 1.0, -2.0, 0.5, 65504 in IEEE half precision, little-endian raw bytes.
        let halves: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF]
        w.rawData = Data(halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        b.model.graph.initializer.append(w)
        b.node("MatMul", ["x", "W"], ["y"])
        b.output("y")
        guard case let .linear(layer) = try importGraph(b).nodes[0].op else { return XCTFail() }
        XCTAssertEqual(layer.weight.data, [1, 0.5, -2, 65504])
        XCTAssertEqual(TensorDecoder.float(fromHalf: 0x0001), Float(sign: .plus, exponent: -24, significand: 1))
    }

    func testEveryUnsupportedOpTypeIsListedWithItsFirstNode() throws {
        var b = ModelBuilder()
        b.node("Relu", ["x"], ["a"], name: "r")
        b.node("LSTM", ["a"], ["b"], name: "lstm1")
        b.node("Erf", ["b"], ["c"], name: "erf1")
        b.node("LSTM", ["c"], ["d"], name: "lstm2")
        b.output("d")
        XCTAssertThrowsError(try importGraph(b)) { error in
            guard case let .unsupported(file, items) = error as? ONNXImportError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "test.onnx")
            XCTAssertEqual(items.map(\.opType), ["LSTM", "Erf"])
            XCTAssertEqual(items.map(\.firstNode), ["lstm1", "erf1"])
            XCTAssertTrue(String(describing: error).contains("LSTM (first at node 'lstm1')"))
        }
    }

    func testUnsupportedAttributeNamesTheNode() throws {
        var b = ModelBuilder()
        b.node("Pad", ["x"], ["y"], name: "reflect_pad", ints: ["pads": [0, 0, 1, 1, 0, 0, 1, 1]], string: ["mode": "reflect"])
        b.output("y")
        XCTAssertThrowsError(try importGraph(b)) { error in
            XCTAssertEqual(String(describing: error), "test.onnx: unsupported ONNX op: Pad (first at node 'reflect_pad': mode=reflect)")
        }
    }

    func testNaNWeightIsRejectedWithTheNodeName() throws {
        var b = ModelBuilder()
        b.initializer("w", [1, 1, 1, 1], [.nan])
        b.node("Conv", ["x", "w"], ["y"], name: "conv_nan")
        b.output("y")
        XCTAssertThrowsError(try importGraph(b)) { error in
            guard case let .invalid(_, node, message) = error as? ONNXImportError else { return XCTFail("\(error)") }
            XCTAssertEqual(node, "conv_nan")
            XCTAssertTrue(message.contains("non-finite"))
        }
    }

    func testTruncatedAndNonONNXFilesGiveClearErrors() throws {
        var b = ModelBuilder()
        b.initializer("w", [4, 1, 3, 3], [Float](repeating: 0.5, count: 36))
        b.node("Conv", ["x", "w"], ["y"], name: "conv")
        b.output("y")
        let full = try b.data()
        for cut in [full.count / 2, full.count - 3, 1] {
            XCTAssertThrowsError(try ONNXImporter.importModel(serialized: full.prefix(cut), source: "cut.onnx")) { error in
                XCTAssertTrue(String(describing: error).hasPrefix("cut.onnx: "), "\(error)")
            }
        }
        let text = Data("This is a README, not a model.\n".utf8)
        XCTAssertThrowsError(try ONNXImporter.importModel(serialized: text, source: "notes.onnx")) { error in
            guard case .notONNX? = error as? ONNXImportError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ONNXImporter.load(contentsOf: URL(fileURLWithPath: "/nonexistent/model.onnx"))) { error in
            XCTAssertEqual(String(describing: error), "/nonexistent/model.onnx: cannot read the file: no such file")
        }
    }

    func testOpsetOutsideTheSupportedRangeIsRejected() throws {
        var b = ModelBuilder(opset: 9)
        b.node("Relu", ["x"], ["y"])
        b.output("y")
        XCTAssertThrowsError(try importGraph(b)) { error in
            XCTAssertTrue(String(describing: error).contains("opset 9 is not supported"))
        }
    }

    func testAutoPadSameUpperPutsTheOddCellAtTheEnd() throws {
        var b = ModelBuilder(shape: [nil, 1, 5, 5])
        b.initializer("w", [1, 1, 2, 2], [1, 1, 1, 1])
        b.node("Conv", ["x", "w"], ["y"], name: "conv", ints: ["strides": [2, 2]], string: ["auto_pad": "SAME_UPPER"])
        b.output("y")
        guard case let .conv(conv) = try importGraph(b).nodes[0].op else { return XCTFail() }
        XCTAssertEqual([conv.geometry.padTop, conv.geometry.padBottom], [0, 1])
    }
}

final class ExternalDataTests: XCTestCase {
    func testWeightsInAnExternalFileAreRead() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-ext-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // 8 bytes of padding, then the 2×2 weight [1, 2, 3, 4] as float32.
        let weights: [Float] = [1, 2, 3, 4]
        var bytes = Data(repeating: 0xAB, count: 8)
        weights.forEach { withUnsafeBytes(of: $0.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try bytes.write(to: folder.appendingPathComponent("model.onnx.data"))

        func build(location: String, offset: String = "8") throws -> URL {
            var b = ModelBuilder(shape: [nil, 2])
            var w = Onnx_TensorProto()
            w.name = "W"; w.dims = [2, 2]; w.dataType = 1; w.dataLocation = 1
            w.externalData = [("location", location), ("offset", offset), ("length", "16")].map { key, value in
                var entry = Onnx_StringStringEntryProto(); entry.key = key; entry.value = value; return entry
            }
            b.model.graph.initializer.append(w)
            b.node("MatMul", ["x", "W"], ["y"])
            b.output("y")
            let url = folder.appendingPathComponent("model-\(UUID()).onnx")
            try b.data().write(to: url)
            return url
        }
        guard case let .linear(layer) = try ONNXImporter.load(contentsOf: build(location: "model.onnx.data")).nodes[0].op else {
            return XCTFail("expected a linear layer")
        }
        XCTAssertEqual(layer.weight.data, [1, 3, 2, 4])
        XCTAssertThrowsError(try ONNXImporter.load(contentsOf: build(location: "../elsewhere.data"))) { error in
            XCTAssertTrue(String(describing: error).contains("outside the model's folder"), "\(error)")
        }
        XCTAssertThrowsError(try ONNXImporter.load(contentsOf: build(location: "missing.data"))) { error in
            XCTAssertTrue(String(describing: error).contains("missing"), "\(error)")
        }
        // A symbolic link inside the folder that leads out of it is refused before anything is read.
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("outside-\(UUID()).data")
        try bytes.write(to: outside)
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("link.data"), withDestinationURL: outside)
        XCTAssertThrowsError(try ONNXImporter.load(contentsOf: build(location: "link.data"))) { error in
            XCTAssertTrue(String(describing: error).contains("resolves outside the model's folder"), "\(error)")
            XCTAssertFalse(String(describing: error).contains("24 bytes"), "the outside file's size must not leak: \(error)")
        }
        // A FIFO would block the import forever.
        XCTAssertEqual(mkfifo(folder.appendingPathComponent("pipe.data").path, 0o600), 0)
        XCTAssertThrowsError(try ONNXImporter.load(contentsOf: build(location: "pipe.data"))) { error in
            XCTAssertTrue(String(describing: error).contains("not a regular file"), "\(error)")
        }
        // offset + length past Int.max is an error, not a trap.
        XCTAssertThrowsError(try ONNXImporter.load(contentsOf: build(location: "model.onnx.data", offset: "9223372036854775800"))) { error in
            XCTAssertTrue(String(describing: error).contains("lie outside model.onnx.data"), "\(error)")
        }
    }

    /// Numbers a hostile file can put where sizes, axes and windows go: each
    /// is a one-line error naming the node or tensor, never a trap or a huge
    /// allocation.
    func testHostileSizesAxesAndWindowsAreErrorsNotTraps() throws {
        func expectError(_ contains: String, file: StaticString = #filePath, line: UInt = #line, _ build: (inout ModelBuilder) -> Void) {
            var b = ModelBuilder()
            build(&b)
            XCTAssertThrowsError(try ONNXImporter.importModel(serialized: b.data(), source: "hostile.onnx"), file: file, line: line) { error in
                XCTAssertTrue(String(describing: error).contains(contains), "\(error)", file: file, line: line)
            }
        }
        expectError("more than 2147483648 elements") { b in
            var t = Onnx_TensorProto()
            t.name = "W"; t.dims = [1 << 40, 1 << 40]; t.dataType = 1
            b.model.graph.initializer.append(t)
            b.node("Relu", ["x"], ["y"]); b.output("y")
        }
        // No elements, but a 2^40-long axis: loops over it ran for hours (found by `make fuzz`).
        expectError("or a dimension longer than that") { b in
            b.initializer("W", [1 << 40, 0], [])
            b.node("MatMul", ["x", "W"], ["y"]); b.output("y")
        }
        var empty = ModelBuilder(shape: [nil, 8])
        empty.initializer("W", [8, 0], [])
        empty.node("MatMul", ["x", "W"], ["y"]); empty.output("y")
        XCTAssertThrowsError(try ONNXImporter.importModel(serialized: empty.data(), source: "hostile.onnx")) { error in
            XCTAssertTrue(String(describing: error).contains("MatMul weight of shape [8, 0] has no elements"), "\(error)")
        }
        expectError("Unsqueeze axes [1, 1] must be distinct") { b in
            b.intInitializer("axes", [1, 1])
            b.node("Unsqueeze", ["x", "axes"], ["y"]); b.output("y")
        }
        expectError("within the output rank") { b in
            b.intInitializer("axes", [1 << 62])
            b.node("Unsqueeze", ["x", "axes"], ["y"]); b.output("y")
        }
        expectError("pooling window does not fit") { b in
            b.node("MaxPool", ["x"], ["y"], name: "pool", ints: ["kernel_shape": [-3, -3]]); b.output("y")
        }
        expectError("pooling window does not fit") { b in
            b.node("MaxPool", ["x"], ["y"], name: "pool", ints: ["kernel_shape": [2, 2], "dilations": [1 << 62, 1 << 62]]); b.output("y")
        }
        expectError("more than 268435456 elements per image") { b in
            b.initializer("w", [1, 1, 1, 1], [1])
            b.node("Conv", ["x", "w"], ["y"], name: "conv", ints: ["pads": [100000, 100000, 100000, 100000]]); b.output("y")
        }
        expectError("no outputs") { b in
            b.node("Relu", ["x"], ["y"])
        }
        expectError("LeakyRelu alpha is nan") { b in
            b.node("LeakyRelu", ["x"], ["y"], float: ["alpha": .nan]); b.output("y")
        }
        expectError("input 'Wx' is not an initializer, the graph input or an output of an earlier node") { b in
            b.initializer("W", [1, 1, 1, 1], [1])
            b.node("Conv", ["x", "Wx"], ["y"]); b.output("y")
        }
        expectError("negative or their product overflows") { b in
            b.intInitializer("shape", [0, 1 << 40, 1 << 40, 1 << 40])
            b.node("Reshape", ["x", "shape"], ["y"]); b.output("y")
        }
    }
}
