/// Direct depthwise convolution of one image: every output channel c reads only
/// input channel c / multiplier (ONNX Conv with group = input channels):
///
///   out[c, oh, ow] = bias[c] + Σ_{i,j} w[c, i, j] · in[c / m, oh·sh − pt + i·dh, ow·sw − pl + j·dw]
///
/// with zero padding. Each input plane is first copied into a zero-bordered
/// scratch plane so the inner loops run without bounds checks; with stride 1
/// they are contiguous and the compiler vectorises them.
@inlinable
public func depthwiseConv2D(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                            weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            multiplier: Int, geometry g: WindowGeometry,
                            outHeight: Int, outWidth: Int,
                            output: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutablePointer<Float>) {
    let paddedH = height + g.padTop + g.padBottom
    let paddedW = width + g.padLeft + g.padRight
    let taps = g.kernelH * g.kernelW
    for c in 0..<channels {
        // Zero-bordered copy of the input plane.
        scratch.update(repeating: 0, count: paddedH * paddedW)
        let src = input + c * height * width
        for h in 0..<height {
            (scratch + (h + g.padTop) * paddedW + g.padLeft).update(from: src + h * width, count: width)
        }
        for m in 0..<multiplier {
            let oc = c * multiplier + m
            let out = output + oc * outHeight * outWidth
            let w = weights + oc * taps
            let b = bias?[oc] ?? 0
            for oh in 0..<outHeight {
                let dst = out + oh * outWidth
                dst.update(repeating: b, count: outWidth)
                for i in 0..<g.kernelH {
                    let row = scratch + (oh * g.strideH + i * g.dilationH) * paddedW
                    for j in 0..<g.kernelW {
                        let wv = w[i * g.kernelW + j]
                        let base = row + j * g.dilationW
                        if g.strideW == 1 {
                            for ow in 0..<outWidth { dst[ow] += wv * base[ow] }
                        } else {
                            for ow in 0..<outWidth { dst[ow] += wv * base[ow * g.strideW] }
                        }
                    }
                }
            }
        }
    }
}

/// The scratch elements `depthwiseConv2D` needs for one plane.
@inlinable
public func depthwiseScratchCount(height: Int, width: Int, geometry g: WindowGeometry) -> Int {
    (height + g.padTop + g.padBottom) * (width + g.padLeft + g.padRight)
}
