/// A fully connected layer with its weight packed once, when the model is
/// compiled, for the GEMM of a batch of inputs:
///
///   Y[m×n] = clamp(X[m×k] · Wᵀ + bias, lower, upper),   W stored n×k (ONNX Gemm, transB = 1)
///
/// W is cut into panels of `linearPanelWidth` outputs (two vectors of the
/// build's widest register: 32 on AVX-512, 16 on AVX2), each stored k-major
/// ([panel][k][32], the last panel padded with zeros), so a panel is read as
/// one stream of whole vectors. X is not packed: the micro-kernel broadcasts
/// X[i][k] straight from the rows of up to `linearRowBlock` inputs (12 on
/// AVX-512, 6 on AVX2), keeping 12 × 2 (6 × 2) accumulators: per k, two
/// loads of W, twelve broadcasts, twenty-four fused multiply-adds. This is
/// the register blocking of Goto & van de Geijn's GEMM with the weight
/// packed ahead of time, as ONNX Runtime's MLAS does for constant B;
/// OpenBLAS packs both operands on every call (measured against it in
/// commit 523c039 and in Benchmarks/).
///
/// Panels are the outer loop and row blocks the inner one, so a panel
/// (k × 32 floats: 100 KB at k = 784) stays in L2 while every block of rows
/// passes over it, whatever the layer's size; the rows' broadcasts need only
/// 4 bytes per 2 multiply-adds. Every output is the bias, then one fused
/// multiply-add per k in order, then the clamp, in every tile shape, so a
/// result does not depend on the batch size or where its row falls.
public struct PackedLinear: Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    /// [panel][k][linearPanelWidth], outputs past outFeatures zero.
    let panels: [Float]
    /// The bias padded with zeros to whole panels (all zero when the layer has none).
    let bias: [Float]

    /// Packs a row-major outFeatures × inFeatures weight and its optional bias.
    public init(weight: [Float], bias: [Float]?, inFeatures: Int, outFeatures: Int) {
        precondition(weight.count == inFeatures * outFeatures, "a linear weight holds inFeatures × outFeatures values")
        precondition(bias.map { $0.count == outFeatures } ?? true, "a linear bias holds outFeatures values")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let width = linearPanelWidth
        let panelCount = (outFeatures + width - 1) / width
        var panels = [Float](repeating: 0, count: panelCount * inFeatures * width)
        for o in 0..<outFeatures {
            let base = (o / width) * inFeatures * width + o % width
            for k in 0..<inFeatures { panels[base + k * width] = weight[o * inFeatures + k] }
        }
        self.panels = panels
        self.bias = (bias ?? []) + [Float](repeating: 0, count: panelCount * width - (bias?.count ?? 0))
    }

    /// Y = clamp(X · Wᵀ + bias) for `rows` inputs of inFeatures values each
    /// (X row-major, rows contiguous), into `rows` rows of outFeatures values.
    /// `clamp` is the fused ReLU or clip (Activation.clampBounds), nil for none.
    public func run(_ x: UnsafePointer<Float>, rows: Int, clamp: (lower: Float, upper: Float)?,
                    into y: UnsafeMutablePointer<Float>) {
        let epilogue = clamp.map { OutputEpilogue(scale: nil, shift: nil, lower: $0.lower, upper: $0.upper) }
        let (k, n, width) = (inFeatures, outFeatures, linearPanelWidth)
        panels.withUnsafeBufferPointer { packed in
            bias.withUnsafeBufferPointer { bias in
                for panel in 0..<((n + width - 1) / width) {
                    let tile = LinearTile(w: packed.baseAddress! + panel * k * width, k: k,
                                          bias: bias.baseAddress! + panel * width,
                                          columns: min(width, n - panel * width), ldy: n, epilogue: epilogue)
                    var row = 0
                    while row < rows {
                        let count = min(linearRowBlock, rows - row)
                        tile.run(rows: count, x: x + row * k, y: y + row * n + panel * width)
                        row += count
                    }
                }
            }
        }
    }
}

/// Outputs per panel of `PackedLinear`: two of the build's widest vectors.
public let linearPanelWidth = 2 * WideLane.scalarCount

/// Rows per micro-kernel call: 12 × 2 accumulators fill AVX-512's 32
/// registers with the two weight vectors and a broadcast beside them; AVX2's
/// 16 hold 6 × 2.
public let linearRowBlock = WideLane.scalarCount == 16 ? 12 : 6

/// One panel of `PackedLinear` (its weights, bias and the columns of Y it
/// writes), run over blocks of up to `linearRowBlock` rows.
struct LinearTile {
    let w: UnsafePointer<Float>
    let k: Int
    let bias: UnsafePointer<Float>
    let columns: Int
    let ldy: Int
    let epilogue: OutputEpilogue?

    /// `rows` (1...linearRowBlock) rows of X at x, ldx = k, into y. Each row
    /// count is its own copy of the micro-kernel, with exactly that many
    /// accumulators: `rows` is a constant in each.
    func run(rows: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        switch rows {
        case 12: micro(12, x, y)
        case 11: micro(11, x, y)
        case 10: micro(10, x, y)
        case 9: micro(9, x, y)
        case 8: micro(8, x, y)
        case 7: micro(7, x, y)
        case 6: micro(6, x, y)
        case 5: micro(5, x, y)
        case 4: micro(4, x, y)
        case 3: micro(3, x, y)
        case 2: micro(2, x, y)
        default: micro(1, x, y)
        }
    }

    @inline(__always)
    private func micro(_ rows: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        typealias V = WideLane
        let lanes = V.scalarCount
        // Rows past `rows` alias the last one; their accumulators are never
        // used, and with `rows` constant the compiler drops them.
        @inline(__always) func row(_ i: Int) -> UnsafePointer<Float> { x + min(i, rows - 1) * k }
        let x0 = row(0), x1 = row(1), x2 = row(2), x3 = row(3), x4 = row(4), x5 = row(5)
        let x6 = row(6), x7 = row(7), x8 = row(8), x9 = row(9), x10 = row(10), x11 = row(11)
        let b0: V = loadLanes(bias), b1: V = loadLanes(bias + lanes)
        var a0 = b0, c0 = b1, a1 = b0, c1 = b1, a2 = b0, c2 = b1, a3 = b0, c3 = b1
        var a4 = b0, c4 = b1, a5 = b0, c5 = b1, a6 = b0, c6 = b1, a7 = b0, c7 = b1
        var a8 = b0, c8 = b1, a9 = b0, c9 = b1, a10 = b0, c10 = b1, a11 = b0, c11 = b1
        var p = w
        for kk in 0..<k {
            let w0: V = loadLanes(p), w1: V = loadLanes(p + lanes)
            @inline(__always) func update(_ a: inout V, _ c: inout V, _ xr: UnsafePointer<Float>) {
                let s = V(repeating: xr[kk])
                a = a.addingProduct(w0, s)
                c = c.addingProduct(w1, s)
            }
            update(&a0, &c0, x0)
            if rows > 1 { update(&a1, &c1, x1) }
            if rows > 2 { update(&a2, &c2, x2) }
            if rows > 3 { update(&a3, &c3, x3) }
            if rows > 4 { update(&a4, &c4, x4) }
            if rows > 5 { update(&a5, &c5, x5) }
            if rows > 6 { update(&a6, &c6, x6) }
            if rows > 7 { update(&a7, &c7, x7) }
            if rows > 8 { update(&a8, &c8, x8) }
            if rows > 9 { update(&a9, &c9, x9) }
            if rows > 10 { update(&a10, &c10, x10) }
            if rows > 11 { update(&a11, &c11, x11) }
            p += 2 * lanes
        }
        let full = columns == 2 * lanes
        @inline(__always) func store(_ i: Int, _ a: V, _ c: V) {
            guard i < rows else { return }
            let out = y + i * ldy
            var pair = (a, c)
            if let epilogue {
                pair = (epilogue.apply(a, channel: 0, at: out), epilogue.apply(c, channel: 0, at: out + lanes))
            }
            if full {
                storeLanes(pair.0, out)
                storeLanes(pair.1, out + lanes)
            } else {
                // The last panel's padding columns are not the layer's outputs.
                withUnsafeBytes(of: &pair) { bytes in
                    out.update(from: bytes.baseAddress!.assumingMemoryBound(to: Float.self), count: columns)
                }
            }
        }
        store(0, a0, c0); store(1, a1, c1); store(2, a2, c2); store(3, a3, c3)
        store(4, a4, c4); store(5, a5, c5); store(6, a6, c6); store(7, a7, c7)
        store(8, a8, c8); store(9, a9, c9); store(10, a10, c10); store(11, a11, c11)
    }
}
