import EqGraph
import EqTensor
import Foundation

/// The QDQ half of an export: QuantizeLinear/DequantizeLinear pairs after
/// quantized activations, integer weight and bias initializers read through
/// DequantizeLinear (ONNX operators QuantizeLinear-13, DequantizeLinear-13:
/// y = saturate(round_half_even(x / s) + z), x̂ = (q − z) · s).
extension ExportWriter {
    /// After `value` is written (as `producedAs`), quantizes it when the
    /// annotation says so; readers then get the dequantized copy.
    mutating func quantizeActivation(_ value: String, producedAs written: String) throws {
        guard let q = quantization?.activations[value] else { return }
        // QuantizeLinear saturates to the whole int8/uint8 range, so narrower codes cannot be expressed.
        guard (q.qmin, q.qmax) == (0, 255) || (q.qmin, q.qmax) == (-128, 127) else {
            throw ONNXExportError("activation '\(value)': codes \(Int(q.qmin))…\(Int(q.qmax)) are not the full int8 or uint8 range; ONNX QDQ (opset \(ONNXExporter.opset)) quantizes activations to 8 bits, so export a precision with 8-bit activations (a8)")
        }
        let signed = q.qmin < 0
        let scale = floatConstant(value + "_scale", Tensor(shape: [], data: [q.scale]))
        let zero = constant(value + "_zero_point",
                            ProtoBuilding.byteTensor("", shape: [], codes: [Int(q.zeroPoint)], signed: signed))
        let codes = fresh(value + "_quantized")
        emit("QuantizeLinear", codes, [written, scale, zero], codes)
        // A graph output keeps its own name on the dequantized copy.
        let dequantized = written == value ? fresh(value + "_dequantized") : value
        emit("DequantizeLinear", fresh(value + "_dequantize"), [codes, scale, zero], dequantized)
        readName[value] = dequantized
    }

    /// The weight and (optional) bias inputs of a layer: float initializers,
    /// or with QDQ integer codes and the DequantizeLinear nodes that read them.
    mutating func parameters(of node: Node, weight: Tensor, bias: Tensor?, input: String) throws -> (String, [String]) {
        let name = node.name
        guard let quantizers = quantization?.weights[node.id] else {
            return (floatConstant(name + ".weight", weight), bias.map { [floatConstant(name + ".bias", $0)] } ?? [])
        }
        let channels = weight.shape[0]
        guard quantizers.count == 1 || quantizers.count == channels else {
            throw ONNXExportError("node \(name): \(quantizers.count) weight encodings for \(channels) output channels")
        }
        for q in quantizers { try Self.checkEightBit(q, what: "weights of node \(name)") }
        let perRow = weight.data.count / max(channels, 1)
        let shift = quantizers[0].qmin < 0 && quantization!.unsignedWeightCodes ? 128 : 0
        let codes = weight.data.enumerated().map { i, w in Int(quantizers[quantizers.count == 1 ? 0 : i / perRow].code(w)) + shift }
        let signed = quantizers[0].qmin < 0 && shift == 0
        let weightName = constant(name + ".weight_quantized",
                                  ProtoBuilding.byteTensor("", shape: weight.shape, codes: codes, signed: signed))
        let weightRead = dequantize(weightName, quantizers.map(\.scale), zeroPoints: quantizers.map { Int($0.zeroPoint) + shift },
                                    signed: signed, as: name + ".weight")
        guard let bias else { return (weightRead, []) }
        guard let scales = quantization?.biasScales[node.id] else {
            return (weightRead, [floatConstant(name + ".bias", bias)])
        }
        guard scales.count == bias.data.count else {
            throw ONNXExportError("node \(name): \(scales.count) bias scales for \(bias.data.count) biases")
        }
        let limit = Double(Int32.max)
        let biasCodes = zip(bias.data, scales).map { b, s in
            Int32(min(max((Double(b) / s).rounded(.toNearestOrEven), -limit - 1), limit))
        }
        let biasName = constant(name + ".bias_quantized", ProtoBuilding.int32Tensor("", shape: bias.shape, values: biasCodes))
        let biasRead = dequantizeInt32(biasName, scales.map { Float($0) }, as: name + ".bias")
        return (weightRead, [biasRead])
    }

    /// DequantizeLinear of 8-bit codes with one scale, or one per slice of axis 0.
    mutating func dequantize(_ codes: String, _ scales: [Float], zeroPoints: [Int], signed: Bool, as output: String) -> String {
        let shape = scales.count == 1 ? [Int]() : [scales.count]
        let scale = floatConstant(output + "_scale", Tensor(shape: shape, data: scales))
        let zero = constant(output + "_zero_point", ProtoBuilding.byteTensor("", shape: shape, codes: zeroPoints, signed: signed))
        let result = fresh(output)
        emit("DequantizeLinear", fresh(output + "_dequantize"), [codes, scale, zero], result,
             scales.count == 1 ? [] : [ProtoBuilding.attribute("axis", int: 0)])
        return result
    }

    /// DequantizeLinear of int32 bias codes (zero point 0).
    mutating func dequantizeInt32(_ codes: String, _ scales: [Float], as output: String) -> String {
        let shape = scales.count == 1 ? [Int]() : [scales.count]
        let scale = floatConstant(output + "_scale", Tensor(shape: shape, data: scales))
        let zero = constant(output + "_zero_point",
                            ProtoBuilding.int32Tensor("", shape: shape, values: [Int32](repeating: 0, count: scales.count)))
        let result = fresh(output)
        emit("DequantizeLinear", fresh(output + "_dequantize"), [codes, scale, zero], result,
             scales.count == 1 ? [] : [ProtoBuilding.attribute("axis", int: 0)])
        return result
    }

    /// QuantizeLinear before opset 21 has int8 and uint8 codes only.
    static func checkEightBit(_ q: FakeQuantizer, what: String) throws {
        let fits = q.qmin >= -128 && q.qmax <= 127 || q.qmin >= 0 && q.qmax <= 255
        guard fits else {
            throw ONNXExportError("\(what): codes \(Int(q.qmin))…\(Int(q.qmax)) do not fit int8 or uint8; ONNX QDQ (opset \(ONNXExporter.opset)) holds 8-bit codes, so export a precision of at most 8 bits")
        }
    }
}
