import EqTensor
import XCTest

/// Tap columns and shifted rows under `rowGemm`, and the depthwise kernel,
/// against the direct definition of convolution, over strides, paddings
/// (symmetric and not), dilations and groups.
final class ConvKernelTests: XCTestCase {
    /// The runtime's tap-columns method: per group, `tapColumns` then
    /// `rowGemm` over its row offsets. Also checks, exactly, that every B row
    /// the offsets name is the im2col row of the definition: padded-input
    /// pixel (c, oh·sh + i·dh, ow·sw + j·dw) for each output pixel.
    func convolveWithTapColumns(_ x: [Float], c: Int, h: Int, w: Int, weight: [Float], outChannels: Int,
                                group: Int, g: WindowGeometry, case n: Int) -> [Float] {
        let (oh, ow) = g.outputSize(height: h, width: w)!
        let cin = c / group, cout = outChannels / group
        let layout = TapColumnLayout(channels: cin, geometry: g, outHeight: oh, outWidth: ow)
        let offsets = layout.rowOffsets(geometry: g)
        var columns = [Float](repeating: .nan, count: layout.count)
        var padded = [Float](repeating: .nan, count: paddedPlaneScratchCount(height: h, width: w, geometry: g))
        var out = [Float](repeating: .nan, count: outChannels * oh * ow)
        for grp in 0..<group {
            x.withUnsafeBufferPointer { xp in
                padded.withUnsafeMutableBufferPointer { pp in
                    columns.withUnsafeMutableBufferPointer { cp in
                        tapColumns(input: xp.baseAddress! + grp * cin * h * w, height: h, width: w, geometry: g,
                                   layout: layout, columns: cp.baseAddress!, padded: pp.baseAddress ?? cp.baseAddress!)
                    }
                }
            }
            for channel in 0..<cin {
                for i in 0..<g.kernelH {
                    for j in 0..<g.kernelW {
                        let row = offsets[(channel * g.kernelH + i) * g.kernelW + j]
                        for y in 0..<oh {
                            for xo in 0..<ow {
                                let ih = y * g.strideH + i * g.dilationH - g.padTop
                                let iw = xo * g.strideW + j * g.dilationW - g.padLeft
                                let inside = (0..<h).contains(ih) && (0..<w).contains(iw)
                                let pixel = inside ? x[((grp * cin + channel) * h + ih) * w + iw] : 0
                                if columns[row + y * ow + xo] != pixel {
                                    XCTFail("case \(n): row (\(channel), \(i), \(j)) pixel (\(y), \(xo))")
                                    return out
                                }
                            }
                        }
                    }
                }
            }
            let a = RowGemmWeights(Array(weight[(grp * cout * offsets.count)..<((grp + 1) * cout * offsets.count)]),
                                   m: cout, k: offsets.count)
            out.withUnsafeMutableBufferPointer { op in
                rowGemm(a, n: oh * ow, b: columns, rowOffsets: offsets, bias: nil,
                        c: op.baseAddress! + grp * cout * oh * ow, ldc: oh * ow)
            }
        }
        return out
    }

    func testTapColumnsConvolutionMatchesDirectDefinition() {
        var rng = SeededRandom(seed: 1)
        let cases: [(c: Int, h: Int, w: Int, o: Int, group: Int, g: WindowGeometry)] = [
            (3, 7, 6, 4, 1, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (2, 9, 9, 3, 1, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)),
            (4, 8, 7, 6, 2, WindowGeometry(kernelH: 3, kernelW: 2, strideH: 2, strideW: 1, padTop: 0, padLeft: 1, padBottom: 1, padRight: 0)),
            (2, 10, 10, 2, 1, WindowGeometry(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            (5, 4, 4, 3, 1, WindowGeometry(kernelH: 1, kernelW: 1)),
            (1, 5, 5, 2, 1, WindowGeometry(kernelH: 5, kernelW: 5, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            // Small maps: one eight-wide vector per row (stride 1, stride 2, dilated).
            (3, 7, 7, 4, 1, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (2, 14, 14, 3, 1, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (2, 7, 7, 2, 1, WindowGeometry(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            // Stride 2 on wider rows: sixteen-wide reads where they stay in the row
            // (1×1 on 28 → 14, 3×3 padded on 20 → 10), the scalar loop where not (17 → 9).
            (3, 28, 28, 4, 1, WindowGeometry(kernelH: 1, kernelW: 1, strideH: 2, strideW: 2)),
            (2, 20, 20, 3, 1, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (2, 5, 17, 3, 1, WindowGeometry(kernelH: 1, kernelW: 1, strideH: 2, strideW: 2)),
            // Row phases: a 5-tall window at stride 2 (phase 0 at q = 0, 1, 2,
            // phase 1 at q = 0, 1), stride 3, and dilation 3 at stride 2
            // (phases 0, 1, 0 at q = 0, 1, 3).
            (2, 11, 9, 3, 1, WindowGeometry(kernelH: 5, kernelW: 3, strideH: 2, strideW: 2, padTop: 2, padLeft: 1, padBottom: 2, padRight: 1)),
            (3, 10, 8, 2, 1, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 3, strideW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (2, 12, 12, 2, 1, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, dilationH: 3, dilationW: 3,
                                             padTop: 3, padLeft: 3, padBottom: 3, padRight: 3)),
            // The demo models' shapes: 3×3 on 16 channels at 28² and 7² (three copies).
            (16, 28, 28, 8, 1, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (16, 7, 7, 8, 1, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ]
        for (n, t) in cases.enumerated() {
            let x = rng.signedArray(t.c * t.h * t.w)
            let weight = rng.signedArray(t.o * t.c / t.group * t.g.kernelH * t.g.kernelW)
            let expected = Reference.conv(x, c: t.c, h: t.h, w: t.w, weight: weight, outChannels: t.o,
                                          group: t.group, g: t.g, bias: nil).out
            let actual = convolveWithTapColumns(x, c: t.c, h: t.h, w: t.w, weight: weight, outChannels: t.o, group: t.group,
                                                g: t.g, case: n)
            XCTAssertEqual(actual.count, expected.count, "case \(n)")
            for i in expected.indices { XCTAssertEqual(actual[i], expected[i], accuracy: 1e-5, "case \(n) element \(i)") }
        }
    }

    /// Stride-1 convs as `rowGemm` over shifted rows of the zero-bordered
    /// planes (the runtime's `shifted` method), junk columns dropped.
    func testShiftedRowsConvolutionMatchesDirectDefinition() {
        var rng = SeededRandom(seed: 3)
        let cases: [(c: Int, h: Int, w: Int, o: Int, g: WindowGeometry)] = [
            (3, 28, 28, 6, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (2, 9, 13, 5, WindowGeometry(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            (4, 7, 6, 4, WindowGeometry(kernelH: 2, kernelW: 3, padTop: 0, padLeft: 1, padBottom: 1, padRight: 0)),
            (1, 14, 14, 16, WindowGeometry(kernelH: 5, kernelW: 5, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            // 7² maps (one zero column between rows), padding only on the
            // left or wider than the window, and a window wider than the row.
            (8, 7, 7, 12, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (3, 5, 6, 4, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 2, padLeft: 2, padBottom: 0, padRight: 0)),
            (2, 6, 5, 3, WindowGeometry(kernelH: 3, kernelW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 2)),
            (2, 4, 3, 3, WindowGeometry(kernelH: 1, kernelW: 5, padTop: 0, padLeft: 2, padBottom: 0, padRight: 3)),
        ]
        for (n, t) in cases.enumerated() {
            let x = rng.signedArray(t.c * t.h * t.w)
            let weight = rng.signedArray(t.o * t.c * t.g.kernelH * t.g.kernelW), bias = rng.signedArray(t.o)
            let (expected, oh, ow) = Reference.conv(x, c: t.c, h: t.h, w: t.w, weight: weight, outChannels: t.o,
                                                    group: 1, g: t.g, bias: bias)
            let rowLength = shiftedRowLength(width: t.w, geometry: t.g)
            var planes = [Float](repeating: .nan, count: paddedPlanesCount(channels: t.c, height: t.h, width: t.w, geometry: t.g))
            var wide = [Float](repeating: .nan, count: t.o * oh * rowLength)
            // Eight guard floats past the output catch a row store that spills past its end.
            var out = [Float](repeating: .nan, count: expected.count + 8)
            padPlanes(input: x, channels: t.c, height: t.h, width: t.w, geometry: t.g, padded: &planes)
            XCTAssertFalse(planes.contains { $0.isNaN }, "case \(n): padPlanes left a float unwritten")
            let offsets = shiftedRowOffsets(channels: t.c, height: t.h, width: t.w, geometry: t.g)
            rowGemm(RowGemmWeights(weight, m: t.o, k: offsets.count), n: oh * rowLength, b: planes, rowOffsets: offsets,
                    bias: bias, c: &wide, ldc: oh * rowLength)
            // A folded batch norm and a ReLU, applied as the valid columns are copied out.
            let scale = rng.signedArray(t.o), shift = rng.signedArray(t.o)
            scale.withUnsafeBufferPointer { sc in
                shift.withUnsafeBufferPointer { sh in
                    let epilogue = OutputEpilogue(scale: sc.baseAddress, shift: sh.baseAddress, lower: 0)
                    copyValidColumns(wide, rowLength: rowLength, channels: t.o, outHeight: oh, outWidth: ow,
                                     epilogue: epilogue, output: &out)
                }
            }
            let plane = oh * ow
            for i in expected.indices {
                let channel = i / plane
                XCTAssertEqual(out[i], max(0, expected[i] * scale[channel] + shift[channel]), accuracy: 1e-5,
                               "case \(n) element \(i)")
            }
            XCTAssertTrue(out[expected.count...].allSatisfy(\.isNaN), "case \(n) wrote past the output")
        }
    }

    func testDepthwiseKernelMatchesDirectDefinition() {
        var rng = SeededRandom(seed: 2)
        let cases: [(c: Int, m: Int, h: Int, w: Int, g: WindowGeometry)] = [
            (4, 1, 8, 8, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (3, 1, 9, 7, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1)),
            (2, 2, 6, 6, WindowGeometry(kernelH: 5, kernelW: 5, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            (2, 1, 7, 7, WindowGeometry(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            // Rows of 3 full vectors and a tail (28), a strided 14 (1 + tail).
            (3, 1, 5, 28, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            (2, 1, 28, 28, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            // Stride 2 without bottom padding, and 20-wide rows (two
            // sixteen-column steps of the phase split) with even and odd left padding.
            (2, 1, 8, 8, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 0, padRight: 0)),
            (2, 1, 6, 20, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1)),
            (2, 1, 5, 20, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            // Stride 3: the scalar phase split, phase rows padded to eight floats.
            (2, 1, 10, 11, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 3, strideW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
            // 7² planes: every output row is a tail, stored eight wide into the next row.
            (3, 2, 7, 7, WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ]
        for (n, t) in cases.enumerated() {
            let x = rng.signedArray(t.c * t.h * t.w)
            let outChannels = t.c * t.m
            let weight = rng.signedArray(outChannels * t.g.kernelH * t.g.kernelW)
            let bias = rng.signedArray(outChannels)
            let (expected, oh, ow) = Reference.conv(x, c: t.c, h: t.h, w: t.w, weight: weight, outChannels: outChannels,
                                                    group: t.c, g: t.g, bias: bias)
            // Eight guard elements past the output: a plane's last row must not spill.
            var out = [Float](repeating: .nan, count: expected.count + 8)
            var scratch = [Float](repeating: 0, count: depthwiseScratchCount(height: t.h, width: t.w, geometry: t.g))
            depthwiseConv2D(input: x, channels: t.c, height: t.h, width: t.w, weights: weight, bias: bias,
                            multiplier: t.m, geometry: t.g, outHeight: oh, outWidth: ow,
                            output: &out, scratch: &scratch)
            for i in expected.indices { XCTAssertEqual(out[i], expected[i], accuracy: 1e-5, "case \(n) element \(i)") }
            XCTAssertTrue(out[expected.count...].allSatisfy(\.isNaN), "case \(n) wrote past its output")
        }
    }

    /// The flat-plane kernel gives the row-by-row kernel's bits (same
    /// arithmetic, same order), with and without a fused affine and clip, at
    /// dilation 1 and 2, on square and oblong planes from one vector (4×4 on
    /// AVX-512) to 14², channel multipliers 1 and 2. NaN and infinities in
    /// every channel but one must not leak into that one's outputs through the
    /// masked reads. Other windows, strides and paddings have no flat layout.
    func testFlatDepthwiseMatchesTheRowKernelBitForBit() {
        var rng = SeededRandom(seed: 9)
        let same3 = WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertNil(FlatDepthwise(height: 7, width: 7, geometry: WindowGeometry(kernelH: 5, kernelW: 5, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)))
        let half3 = WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertNil(FlatDepthwise(height: 15, width: 14, geometry: half3), "odd planes have no equal phases")
        XCTAssertNil(FlatDepthwise(height: 14, width: 14, geometry: WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)))
        XCTAssertNil(FlatDepthwise(height: 7, width: 7, geometry: WindowGeometry(kernelH: 3, kernelW: 3)))
        XCTAssertNil(FlatDepthwise(height: 28, width: 28, geometry: same3))
        let cases: [(c: Int, m: Int, h: Int, w: Int, g: WindowGeometry)] = [
            (5, 1, 7, 7, same3), (3, 2, 14, 14, same3), (4, 1, 4, 4, same3), (3, 1, 5, 9, same3), (2, 1, 11, 6, same3),
            (3, 1, 9, 9, WindowGeometry(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
            (2, 2, 10, 8, WindowGeometry(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 1, padTop: 2, padLeft: 1, padBottom: 2, padRight: 1)),
            // Stride 2 over the four phases: 14² → 7² (one sixteen-float read
            // per row, the last channel's last row element by element),
            // 28² → 14², 10 × 8, and 12 × 12 without bottom and right padding.
            (4, 1, 14, 14, half3), (2, 1, 28, 28, half3), (3, 2, 10, 8, half3),
            (2, 1, 12, 12, WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 0, padRight: 0)),
        ]
        for (n, t) in cases.enumerated() {
            guard let flat = FlatDepthwise(height: t.h, width: t.w, geometry: t.g) else {
                XCTAssertLessThan(t.h * t.w / (t.g.strideH * t.g.strideW), 16, "case \(n) has no flat layout")
                continue
            }
            let outChannels = t.c * t.m, taps = t.g.kernelH * t.g.kernelW
            let weight = rng.signedArray(outChannels * taps), bias = rng.signedArray(outChannels)
            let scale = rng.signedArray(outChannels), shift = rng.signedArray(outChannels)
            for poisoned in [false, true] {
                var x = rng.signedArray(t.c * t.h * t.w)
                if poisoned {
                    // Every channel but the middle one holds NaN and ±∞ at its edges.
                    for c in 0..<t.c where c != t.c / 2 {
                        let plane = t.h * t.w
                        x[c * plane] = .nan; x[c * plane + plane - 1] = .infinity; x[c * plane + t.w - 1] = -.infinity
                        x[c * plane + plane - t.w] = .nan
                    }
                }
                for fused in [false, true] {
                    scale.withUnsafeBufferPointer { sc in
                        shift.withUnsafeBufferPointer { sh in
                            let epilogue = fused ? OutputEpilogue(scale: sc.baseAddress, shift: sh.baseAddress, lower: -0.5, upper: 0.75) : nil
                            let (oh, ow) = (flat.outHeight, flat.outWidth)
                            var rows = [Float](repeating: .nan, count: outChannels * oh * ow + 16), flatOut = rows
                            var scratch = [Float](repeating: .nan, count: depthwiseScratchCount(height: t.h, width: t.w, geometry: t.g))
                            depthwiseConv2D(input: x, channels: t.c, height: t.h, width: t.w, weights: weight, bias: bias,
                                            multiplier: t.m, geometry: t.g, outHeight: oh, outWidth: ow, epilogue: epilogue,
                                            output: &rows, scratch: &scratch)
                            var flatScratch = [Float](repeating: .nan, count: flat.scratchCount(channels: t.c))
                            flat.run(input: x, channels: t.c, weights: weight, bias: bias, multiplier: t.m, epilogue: epilogue,
                                     output: &flatOut, scratch: &flatScratch)
                            let plane = oh * ow, clean = t.c / 2
                            for i in 0..<(outChannels * plane) where !poisoned || i / plane / t.m == clean {
                                XCTAssertEqual(flatOut[i].bitPattern, rows[i].bitPattern,
                                               "case \(n) (poisoned \(poisoned), fused \(fused)) element \(i): \(flatOut[i]) vs \(rows[i])")
                            }
                            if poisoned {
                                XCTAssertTrue((0..<(t.m * plane)).allSatisfy { flatOut[clean * t.m * plane + $0].isFinite },
                                              "case \(n): a poisoned neighbour leaked into channel \(clean)")
                            }
                            XCTAssertTrue(flatOut[(outChannels * plane)...].allSatisfy(\.isNaN), "case \(n) wrote past its output")
                        }
                    }
                }
            }
        }
    }

    func testOutputSizeFollowsONNXIncludingCeilMode() {
        let g = WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)
        XCTAssertEqual(g.outputSize(height: 7, width: 8)!.height, 3)
        XCTAssertEqual(g.outputSize(height: 7, width: 8)!.width, 3)
        var ceil = g
        ceil.ceilMode = true
        XCTAssertEqual(ceil.outputSize(height: 8, width: 8)!.height, 4)   // ⌈5/2⌉ + 1
        // A window that would start in the trailing padding is dropped.
        let padded = WindowGeometry(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padBottom: 1, padRight: 1, ceilMode: true)
        XCTAssertEqual(padded.outputSize(height: 4, width: 4)!.height, 2)
        XCTAssertNil(WindowGeometry(kernelH: 5, kernelW: 5).outputSize(height: 3, width: 3))
    }
}
