/// A GEMM for convolutions whose B operand is already in memory as rows:
///
///   C[m×n] = A[m×k] · B[k×n] + bias,   B row r = b[rowOffsets[r] ..< rowOffsets[r] + n]
///
/// B is never packed or copied. A 1×1 conv's rows are its input planes; a
/// stride-1 conv's rows are its zero-bordered input planes shifted by each
/// tap (`padPlanes`, no im2col copies); any other conv's rows are those of
/// its im2col matrix, read from one copy of the input per column tap
/// (`tapColumns`). A is packed once, when the model is compiled
/// (`RowGemmWeights`).
///
/// The micro-kernel keeps a tile of C of 4 rows × 3 vectors in twelve
/// accumulators and adds one rank-1 update per row of B: three loads of B,
/// four broadcasts of A, twelve fused multiply-adds. The vectors are the
/// build CPU's widest (`WideLane`): 4×24 on AVX2, 4×48 on AVX-512, whose
/// leftover 24-column tiles then run 8-lane. This is the register blocking of
/// Goto & van de Geijn's GEMM, minus the B packing that dominates OpenBLAS's
/// time when k is 16–600 and n a few hundred (the demo models' convs).
/// Benchmarks/ times whole convs against OpenBLAS's sgemm (commit 8515d04).
///
/// Column tails narrower than a tile use one-vector tiles over eight rows
/// (16 wide, then 8), then
/// single columns over 32 and 16 rows (four rows per vector); row tails (m not
/// a multiple of 4) run one row at a time. Reductions longer than
/// `rowGemmDepth` run in passes that add onto C. The arithmetic per element
/// is the same in every path (the bias, then one fused multiply-add per row
/// of B, in order), so results do not depend on where a column or row falls.
public struct RowGemmWeights: Sendable {
    public let m: Int
    public let k: Int
    /// Rows 0..<m/4·4 in blocks of four, interleaved per k ([block][k][4]);
    /// then the remaining rows as they are ([row][k]).
    public let packed: [Float]

    /// Packs a row-major m×k matrix.
    public init(_ a: UnsafePointer<Float>, m: Int, k: Int) {
        self.m = m
        self.k = k
        var packed = [Float](repeating: 0, count: m * k)
        let blocks = m / 4
        for block in 0..<blocks {
            for kk in 0..<k {
                for r in 0..<4 { packed[(block * k + kk) * 4 + r] = a[(block * 4 + r) * k + kk] }
            }
        }
        for row in (blocks * 4)..<m {
            for kk in 0..<k { packed[row * k + kk] = a[row * k + kk] }
        }
        self.packed = packed
    }

    public init(_ a: [Float], m: Int, k: Int) {
        self = a.withUnsafeBufferPointer { RowGemmWeights($0.baseAddress!, m: m, k: k) }
    }
}

/// Floats per vector of rowGemm's main tile in this build: 16 on AVX-512, 8 on AVX2.
public let rowGemmLanes = WideLane.scalarCount

/// Rows of B per pass over C: a 24-column panel of 128 rows (12 KB) and the
/// 4-row block of A (2 KB) stay in L1. Longer reductions (3×3 convs on 64+
/// channels, 1×1 on 256) run in passes, each adding onto C.
let rowGemmDepth = 128

/// C = epilogue(A·B + bias) with B given as row offsets (see `RowGemmWeights`).
/// `c` has row stride `ldc`; `bias` holds one value per row of C (zero when
/// nil); the epilogue (a fused batch norm and ReLU/clip, per row of C) is
/// applied to each tile in registers as the last pass over k stores it.
public func rowGemm(_ a: RowGemmWeights, n: Int, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int>,
                    bias: UnsafePointer<Float>?, epilogue: OutputEpilogue? = nil,
                    c: UnsafeMutablePointer<Float>, ldc: Int) {
    a.packed.withUnsafeBufferPointer { packed in
        let ap = packed.baseAddress!
        let (m, k) = (a.m, a.k)
        let fullRows = m / 4 * 4
        for k0 in stride(from: 0, to: k, by: rowGemmDepth) {
            let depth = min(rowGemmDepth, k - k0), first = k0 == 0
            let offsets = rowOffsets + k0
            // The first pass starts from the bias, later ones add onto C.
            func start(_ row: Int) -> UnsafePointer<Float>? { first ? bias.map { $0 + row } : nil }
            // The last pass applies the epilogue to the finished tile before storing it.
            let last = k0 + depth == k
            func finish(_ row: Int) -> OutputEpilogue? { last ? epilogue?.advanced(by: row) : nil }
            // Column tiles outside, row blocks inside: a tile's panel of B
            // stays in L1 while every block of A passes over it.
            // 48-column tiles of 16-lane vectors on AVX-512, then 24-column
            // ones of 8 lanes (all of them on AVX2).
            var col = 0
            func tiles<V: SIMD>(_ lanes: V.Type) where V.Scalar == Float {
                while col + 3 * V.scalarCount <= n {
                    for row in stride(from: 0, to: fullRows, by: 4) {
                        tile4x3(ap + row * k + k0 * 4, depth: depth, b: b + col, rowOffsets: offsets, start: start(row),
                                accumulate: !first, finish: finish(row), c: c + row * ldc + col, ldc: ldc, lanes: V.self)
                    }
                    col += 3 * V.scalarCount
                }
            }
            tiles(WideLane.self)
            if WideLane.scalarCount > Lane8.scalarCount { tiles(Lane8.self) }
            // Tails: a tile needs about eight independent accumulators to
            // hide the multiply-add latency, so narrow tiles span more rows.
            let pairedRows = fullRows / 8 * 8
            func narrowTiles<V: SIMD>(_ lanes: V.Type) where V.Scalar == Float {
                while col + V.scalarCount <= n {
                    for row in stride(from: 0, to: pairedRows, by: 8) {
                        tile8xV(ap + row * k + k0 * 4, blockStride: 4 * k, depth: depth, b: b + col, rowOffsets: offsets,
                                start: start(row), accumulate: !first, finish: finish(row), c: c + row * ldc + col, ldc: ldc,
                                lanes: V.self)
                    }
                    for row in stride(from: pairedRows, to: fullRows, by: 4) {
                        tile4xV(ap + row * k + k0 * 4, depth: depth, b: b + col, rowOffsets: offsets,
                                start: start(row), accumulate: !first, finish: finish(row), c: c + row * ldc + col, ldc: ldc,
                                lanes: V.self)
                    }
                    col += V.scalarCount
                }
            }
            narrowTiles(WideLane.self)
            if WideLane.scalarCount > Lane8.scalarCount { narrowTiles(Lane8.self) }
            // Three or more columns left (14² maps: 196 = 4·48 + 4) cost more
            // as single columns, each a quarter of a tile's throughput, than
            // one 8-wide tile over the last eight, which recomputes some
            // finished columns with the same arithmetic and so the same bits.
            // Only in a single pass over k: a later pass would add its part
            // to those columns twice.
            if first && last && n - col >= 3 && n >= 8 {
                col = n - 8
                narrowTiles(Lane8.self)
            }
            // Single columns: eight blocks of four rows at a time (eight
            // independent chains keep both FMA units busy), then four.
            let octRows = fullRows / 32 * 32, quadRows = fullRows / 16 * 16
            for j in col..<n {
                @inline(__always) func column(_ blocks: Int, _ row: Int) {
                    tileColumn(blocks, ap + row * k + k0 * 4, blockStride: 4 * k, depth: depth, b: b + j,
                               rowOffsets: offsets, start: start(row), accumulate: !first, finish: finish(row),
                               c: c + row * ldc + j, ldc: ldc)
                }
                for row in stride(from: 0, to: octRows, by: 32) { column(8, row) }
                for row in stride(from: octRows, to: quadRows, by: 16) { column(4, row) }
                for row in stride(from: quadRows, to: fullRows, by: 4) {
                    tile4x1(ap + row * k + k0 * 4, depth: depth, b: b + j, rowOffsets: offsets,
                            start: start(row), accumulate: !first, finish: finish(row), c: c + row * ldc + j, ldc: ldc)
                }
            }
            for r in fullRows..<m {
                singleRow(ap + r * k + k0, depth: depth, n: n, b: b, rowOffsets: offsets,
                          start: first ? (bias?[r] ?? 0) : nil, finish: finish(r), c: c + r * ldc)
            }
        }
    }
}

/// The starting value of four rows of a tile: C itself (a later pass over k),
/// the bias, or zero.
@inline(__always)
func startingRows(_ bias: UnsafePointer<Float>?) -> (Float, Float, Float, Float) {
    guard let bias else { return (0, 0, 0, 0) }
    return (bias[0], bias[1], bias[2], bias[3])
}

/// The micro-kernel: a tile of 4 rows × 3 vectors of V (4×24 with AVX2's
/// 8 lanes, 4×48 with AVX-512's 16), twelve accumulators, one rank-1 update
/// per row of B.
@inline(__always)
func tile4x3<V: SIMD>(_ a: UnsafePointer<Float>, depth: Int, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int>,
                      start: UnsafePointer<Float>?, accumulate: Bool, finish: OutputEpilogue?,
                      c: UnsafeMutablePointer<Float>, ldc: Int, lanes _: V.Type) where V.Scalar == Float {
    let w1 = V.scalarCount, w2 = 2 * V.scalarCount
    let r = startingRows(start)
    var c00 = V(repeating: r.0), c01 = c00, c02 = c00
    var c10 = V(repeating: r.1), c11 = c10, c12 = c10
    var c20 = V(repeating: r.2), c21 = c20, c22 = c20
    var c30 = V(repeating: r.3), c31 = c30, c32 = c30
    if accumulate {
        c00 = loadLanes(c); c01 = loadLanes(c + w1); c02 = loadLanes(c + w2)
        c10 = loadLanes(c + ldc); c11 = loadLanes(c + ldc + w1); c12 = loadLanes(c + ldc + w2)
        c20 = loadLanes(c + 2 * ldc); c21 = loadLanes(c + 2 * ldc + w1); c22 = loadLanes(c + 2 * ldc + w2)
        c30 = loadLanes(c + 3 * ldc); c31 = loadLanes(c + 3 * ldc + w1); c32 = loadLanes(c + 3 * ldc + w2)
    }
    var w = a
    for kk in 0..<depth {
        let p = b + rowOffsets[kk]
        let x0: V = loadLanes(p), x1: V = loadLanes(p + w1), x2: V = loadLanes(p + w2)
        var s = V(repeating: w[0])
        c00 = c00.addingProduct(x0, s); c01 = c01.addingProduct(x1, s); c02 = c02.addingProduct(x2, s)
        s = V(repeating: w[1])
        c10 = c10.addingProduct(x0, s); c11 = c11.addingProduct(x1, s); c12 = c12.addingProduct(x2, s)
        s = V(repeating: w[2])
        c20 = c20.addingProduct(x0, s); c21 = c21.addingProduct(x1, s); c22 = c22.addingProduct(x2, s)
        s = V(repeating: w[3])
        c30 = c30.addingProduct(x0, s); c31 = c31.addingProduct(x1, s); c32 = c32.addingProduct(x2, s)
        w += 4
    }
    if let e = finish {
        let c1 = c + ldc, c2 = c + 2 * ldc, c3 = c + 3 * ldc
        c00 = e.apply(c00, channel: 0, at: c); c01 = e.apply(c01, channel: 0, at: c + w1); c02 = e.apply(c02, channel: 0, at: c + w2)
        c10 = e.apply(c10, channel: 1, at: c1); c11 = e.apply(c11, channel: 1, at: c1 + w1); c12 = e.apply(c12, channel: 1, at: c1 + w2)
        c20 = e.apply(c20, channel: 2, at: c2); c21 = e.apply(c21, channel: 2, at: c2 + w1); c22 = e.apply(c22, channel: 2, at: c2 + w2)
        c30 = e.apply(c30, channel: 3, at: c3); c31 = e.apply(c31, channel: 3, at: c3 + w1); c32 = e.apply(c32, channel: 3, at: c3 + w2)
    }
    storeLanes(c00, c); storeLanes(c01, c + w1); storeLanes(c02, c + w2)
    storeLanes(c10, c + ldc); storeLanes(c11, c + ldc + w1); storeLanes(c12, c + ldc + w2)
    storeLanes(c20, c + 2 * ldc); storeLanes(c21, c + 2 * ldc + w1); storeLanes(c22, c + 2 * ldc + w2)
    storeLanes(c30, c + 3 * ldc); storeLanes(c31, c + 3 * ldc + w1); storeLanes(c32, c + 3 * ldc + w2)
}

/// Four rows × one vector of V (4×8 or 4×16), for column tails.
@inline(__always)
func tile4xV<V: SIMD>(_ a: UnsafePointer<Float>, depth: Int, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int>,
             start: UnsafePointer<Float>?, accumulate: Bool, finish: OutputEpilogue?,
              c: UnsafeMutablePointer<Float>, ldc: Int, lanes _: V.Type) where V.Scalar == Float {
    let r = startingRows(start)
    var c0 = V(repeating: r.0), c1 = V(repeating: r.1), c2 = V(repeating: r.2), c3 = V(repeating: r.3)
    if accumulate { c0 = loadLanes(c); c1 = loadLanes(c + ldc); c2 = loadLanes(c + 2 * ldc); c3 = loadLanes(c + 3 * ldc) }
    var w = a
    for kk in 0..<depth {
        let x: V = loadLanes(b + rowOffsets[kk])
        c0 = c0.addingProduct(x, V(repeating: w[0])); c1 = c1.addingProduct(x, V(repeating: w[1]))
        c2 = c2.addingProduct(x, V(repeating: w[2])); c3 = c3.addingProduct(x, V(repeating: w[3]))
        w += 4
    }
    if let e = finish {
        c0 = e.apply(c0, channel: 0, at: c); c1 = e.apply(c1, channel: 1, at: c + ldc)
        c2 = e.apply(c2, channel: 2, at: c + 2 * ldc); c3 = e.apply(c3, channel: 3, at: c + 3 * ldc)
    }
    storeLanes(c0, c); storeLanes(c1, c + ldc); storeLanes(c2, c + 2 * ldc); storeLanes(c3, c + 3 * ldc)
}

/// Two blocks of four rows × one vector of V (8×8 or 8×16): eight
/// accumulators for column tails.
@inline(__always)
func tile8xV<V: SIMD>(_ a: UnsafePointer<Float>, blockStride: Int, depth: Int, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int>,
             start: UnsafePointer<Float>?, accumulate: Bool, finish: OutputEpilogue?,
              c: UnsafeMutablePointer<Float>, ldc: Int, lanes _: V.Type) where V.Scalar == Float {
    let r = startingRows(start), s = startingRows(start.map { $0 + 4 })
    var c0 = V(repeating: r.0), c1 = V(repeating: r.1), c2 = V(repeating: r.2), c3 = V(repeating: r.3)
    var c4 = V(repeating: s.0), c5 = V(repeating: s.1), c6 = V(repeating: s.2), c7 = V(repeating: s.3)
    if accumulate {
        c0 = loadLanes(c); c1 = loadLanes(c + ldc); c2 = loadLanes(c + 2 * ldc); c3 = loadLanes(c + 3 * ldc)
        c4 = loadLanes(c + 4 * ldc); c5 = loadLanes(c + 5 * ldc); c6 = loadLanes(c + 6 * ldc); c7 = loadLanes(c + 7 * ldc)
    }
    var w = a, v = a + blockStride
    for kk in 0..<depth {
        let x: V = loadLanes(b + rowOffsets[kk])
        c0 = c0.addingProduct(x, V(repeating: w[0])); c1 = c1.addingProduct(x, V(repeating: w[1]))
        c2 = c2.addingProduct(x, V(repeating: w[2])); c3 = c3.addingProduct(x, V(repeating: w[3]))
        c4 = c4.addingProduct(x, V(repeating: v[0])); c5 = c5.addingProduct(x, V(repeating: v[1]))
        c6 = c6.addingProduct(x, V(repeating: v[2])); c7 = c7.addingProduct(x, V(repeating: v[3]))
        w += 4; v += 4
    }
    if let e = finish {
        c0 = e.apply(c0, channel: 0, at: c); c1 = e.apply(c1, channel: 1, at: c + ldc)
        c2 = e.apply(c2, channel: 2, at: c + 2 * ldc); c3 = e.apply(c3, channel: 3, at: c + 3 * ldc)
        c4 = e.apply(c4, channel: 4, at: c + 4 * ldc); c5 = e.apply(c5, channel: 5, at: c + 5 * ldc)
        c6 = e.apply(c6, channel: 6, at: c + 6 * ldc); c7 = e.apply(c7, channel: 7, at: c + 7 * ldc)
    }
    storeLanes(c0, c); storeLanes(c1, c + ldc); storeLanes(c2, c + 2 * ldc); storeLanes(c3, c + 3 * ldc)
    storeLanes(c4, c + 4 * ldc); storeLanes(c5, c + 5 * ldc); storeLanes(c6, c + 6 * ldc); storeLanes(c7, c + 7 * ldc)
}

/// One column of `blocks` (4 or 8) blocks of four rows: as many independent
/// 4-lane chains. With four, each multiply-add waited on the one before it
/// in its chain; eight cover both units' latency (commit aeb5a68).
@inline(__always)
func tileColumn(_ blocks: Int, _ a: UnsafePointer<Float>, blockStride: Int, depth: Int, b: UnsafePointer<Float>,
                rowOffsets: UnsafePointer<Int>, start: UnsafePointer<Float>?, accumulate: Bool, finish: OutputEpilogue?,
                c: UnsafeMutablePointer<Float>, ldc: Int) {
    typealias V4 = SIMD4<Float>
    func initial(_ block: Int) -> V4 {
        guard block < blocks else { return V4() }
        let rows = c + 4 * block * ldc
        if accumulate { return V4(rows[0], rows[ldc], rows[2 * ldc], rows[3 * ldc]) }
        let r = startingRows(start.map { $0 + 4 * block })
        return V4(r.0, r.1, r.2, r.3)
    }
    var s0 = initial(0), s1 = initial(1), s2 = initial(2), s3 = initial(3)
    var s4 = initial(4), s5 = initial(5), s6 = initial(6), s7 = initial(7)
    let a1 = a + blockStride, a2 = a + 2 * blockStride, a3 = a + 3 * blockStride
    let a4 = a + 4 * blockStride, a5 = a + 5 * blockStride, a6 = a + 6 * blockStride, a7 = a + 7 * blockStride
    for kk in 0..<depth {
        let x = V4(repeating: b[rowOffsets[kk]])
        @inline(__always) func w(_ p: UnsafePointer<Float>) -> V4 { load4(p + kk * 4) }
        s0 = s0.addingProduct(w(a), x); s1 = s1.addingProduct(w(a1), x)
        s2 = s2.addingProduct(w(a2), x); s3 = s3.addingProduct(w(a3), x)
        if blocks > 4 {
            s4 = s4.addingProduct(w(a4), x); s5 = s5.addingProduct(w(a5), x)
            s6 = s6.addingProduct(w(a6), x); s7 = s7.addingProduct(w(a7), x)
        }
    }
    @inline(__always) func store(_ v: V4, _ block: Int) {
        guard block < blocks else { return }
        let rows = c + 4 * block * ldc
        @inline(__always) func out(_ lane: Int) -> Float {
            finish?.apply(v[lane], channel: 4 * block + lane, at: rows + lane * ldc) ?? v[lane]
        }
        rows[0] = out(0); rows[ldc] = out(1); rows[2 * ldc] = out(2); rows[3 * ldc] = out(3)
    }
    store(s0, 0); store(s1, 1); store(s2, 2); store(s3, 3)
    store(s4, 4); store(s5, 5); store(s6, 6); store(s7, 7)
}

/// One column of four rows (the last n mod 8 columns): the four rows of A
/// are one 4-lane vector, so each row of B costs one multiply-add.
@inline(__always)
func tile4x1(_ a: UnsafePointer<Float>, depth: Int, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int>,
             start: UnsafePointer<Float>?, accumulate: Bool, finish: OutputEpilogue?,
              c: UnsafeMutablePointer<Float>, ldc: Int) {
    let r = startingRows(start)
    var acc = accumulate ? SIMD4(c[0], c[ldc], c[2 * ldc], c[3 * ldc]) : SIMD4(r.0, r.1, r.2, r.3)
    for kk in 0..<depth {
        let w = load4(a + kk * 4)
        acc = acc.addingProduct(w, SIMD4(repeating: b[rowOffsets[kk]]))
    }
    @inline(__always) func out(_ lane: Int) -> Float { finish?.apply(acc[lane], channel: lane, at: c + lane * ldc) ?? acc[lane] }
    c[0] = out(0); c[ldc] = out(1); c[2 * ldc] = out(2); c[3 * ldc] = out(3)
}

/// One row of C (the rows past the last block of four); `start` nil adds onto C.
func singleRow(_ a: UnsafePointer<Float>, depth: Int, n: Int, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int>,
               start: Float?, finish: OutputEpilogue?, c: UnsafeMutablePointer<Float>) {
    let narrow = n / 8 * 8
    var col = 0
    while col < narrow {
        var acc = start.map { Lane8(repeating: $0) } ?? load8(c + col)
        for kk in 0..<depth { acc = acc.addingProduct(load8(b + rowOffsets[kk] + col), Lane8(repeating: a[kk])) }
        store8(finish?.apply(acc, channel: 0, at: c + col) ?? acc, c + col)
        col += 8
    }
    for j in col..<n {
        var s = start ?? c[j]
        for kk in 0..<depth { s = s.addingProduct(a[kk], b[rowOffsets[kk] + j]) }
        c[j] = finish?.apply(s, channel: 0, at: c + j) ?? s
    }
}
