/// Vector helpers shared by the kernels (rowGemm, depthwise, tap columns,
/// pooling): eight-float (one AVX2 register) and build-width (`WideLane`)
/// vectors, unaligned loads and stores, and the overlapping walk over a row
/// that needs no scalar tail.

/// Eight floats: one AVX2 register.
typealias Lane8 = SIMD8<Float>

#if EQBENCH_AVX512
/// The widest register of the CPU the build targets (Package.swift): sixteen
/// floats, one AVX-512 register. rowGemm's main tile is three of them wide.
typealias WideLane = SIMD16<Float>
#else
/// The widest register of the CPU the build targets (Package.swift): eight
/// floats, one AVX2 register. rowGemm's main tile is three of them wide.
typealias WideLane = SIMD8<Float>
#endif

@inlinable @inline(__always)
func loadLanes<V: SIMD>(_ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

@inlinable @inline(__always)
func storeLanes<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

@inlinable @inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

/// Four floats from p, built from four scalar loads that LLVM merges into
/// one vector load. Not `loadUnaligned(as: SIMD4<Float>.self)`: that generic
/// call was at times left outlined, one call per load, in `rowGemm`'s
/// single-column tiles, depending on what else the module held (commit c44f983).
@inlinable @inline(__always)
func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> { SIMD4(p[0], p[1], p[2], p[3]) }

/// The even-indexed floats of p[0 ..< 16]: eight outputs of a stride-2 row.
@inlinable @inline(__always)
func loadEven8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self).evenHalf }

@inlinable @inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }

/// Calls `body(x)` for x = 0, 8, 16, … below count − 8, then for count − 8:
/// eight-wide steps over a row of `count` ≥ 8 elements, the last step
/// overlapping the one before it, so no scalar tail is needed.
@inlinable @inline(__always)
func forEachOverlappingVector(_ count: Int, _ body: (Int) -> Void) {
    var x = 0
    while x < count &- 8 {
        body(x)
        x &+= 8
    }
    body(count &- 8)
}

/// Copies a short row (a map row into a zero-bordered plane): eight-wide
/// overlapping vectors from 8 floats up, two overlapping four-wide ones from
/// 4, one by one below; reads and writes stay inside the row. Not memmove:
/// a call per 7-float row cost a third of a 7² depthwise conv (commit fb3d4b8).
@inlinable @inline(__always)
func copyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 8 {
        forEachOverlappingVector(count) { at in store8(load8(src + at), dst + at) }
    } else if count >= 4 {
        let head = UnsafeRawPointer(src).loadUnaligned(as: SIMD4<Float>.self)
        let tail = UnsafeRawPointer(src + count - 4).loadUnaligned(as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(dst).storeBytes(of: head, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(dst + count - 4).storeBytes(of: tail, as: SIMD4<Float>.self)
    } else {
        for i in 0..<count { dst[i] = src[i] }
    }
}
