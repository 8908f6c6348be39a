import EqTensor

/// Naive, obviously-correct reference implementations the kernels are compared to.
enum Reference {
    /// Direct convolution with groups, loops straight from the ONNX definition.
    static func conv(_ x: [Float], c: Int, h: Int, w: Int, weight: [Float], outChannels: Int,
                     group: Int, g: WindowGeometry, bias: [Float]?) -> (out: [Float], oh: Int, ow: Int) {
        let (oh, ow) = g.outputSize(height: h, width: w)!
        let cin = c / group, cout = outChannels / group
        var out = [Float](repeating: 0, count: outChannels * oh * ow)
        for o in 0..<outChannels {
            let grp = o / cout
            for y in 0..<oh {
                for xo in 0..<ow {
                    var sum = Double(bias?[o] ?? 0)
                    for ci in 0..<cin {
                        for i in 0..<g.kernelH {
                            for j in 0..<g.kernelW {
                                let iy = y * g.strideH - g.padTop + i * g.dilationH
                                let ix = xo * g.strideW - g.padLeft + j * g.dilationW
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                let wv = weight[((o * cin + ci) * g.kernelH + i) * g.kernelW + j]
                                sum += Double(wv) * Double(x[((grp * cin + ci) * h + iy) * w + ix])
                            }
                        }
                    }
                    out[(o * oh + y) * ow + xo] = Float(sum)
                }
            }
        }
        return (out, oh, ow)
    }
}
