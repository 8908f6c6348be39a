/// The smallest and largest of `count` floats, and whether any is NaN, in one
/// vectorized pass: what calibration observers read from every activation
/// and quantizers from every weight channel.
///
/// NaN is never the minimum or maximum (a comparison with it is false, as in
/// `Swift.min`'s scalar loop this replaces); infinities are. No values give
/// (+∞, −∞). Sixteen-float vectors, four of each bound in flight: the scalar
/// loop's min and max are not vectorized by the compiler (a float min/max
/// reduction needs fast-math), so each element waited on a compare and a
/// select (commit f895e2a).
@inlinable
public func valueRange(_ p: UnsafePointer<Float>, count: Int) -> (min: Float, max: Float, hasNaN: Bool) {
    typealias V = SIMD16<Float>
    let lanes = V.scalarCount
    var lo = (V(repeating: .infinity), V(repeating: .infinity), V(repeating: .infinity), V(repeating: .infinity))
    var hi = (-lo.0, -lo.0, -lo.0, -lo.0)
    // Sums of v − v: 0 while every lane is finite, NaN from a NaN or an infinity.
    var bad = (V(repeating: 0), V(repeating: 0), V(repeating: 0), V(repeating: 0))
    @inline(__always) func take(_ v: V, _ low: inout V, _ high: inout V, _ nonFinite: inout V) {
        low.replace(with: v, where: v .< low)
        high.replace(with: v, where: v .> high)
        nonFinite += v - v
    }
    var i = 0
    while i + 4 * lanes <= count {
        take(loadLanes(p + i), &lo.0, &hi.0, &bad.0)
        take(loadLanes(p + i + lanes), &lo.1, &hi.1, &bad.1)
        take(loadLanes(p + i + 2 * lanes), &lo.2, &hi.2, &bad.2)
        take(loadLanes(p + i + 3 * lanes), &lo.3, &hi.3, &bad.3)
        i += 4 * lanes
    }
    var low = Float.infinity, high = -Float.infinity
    var hasNaN = false
    for v in [lo.0, lo.1, lo.2, lo.3] { low = Swift.min(low, v.min()) }
    for v in [hi.0, hi.1, hi.2, hi.3] { high = Swift.max(high, v.max()) }
    if ((bad.0 + bad.1) + (bad.2 + bad.3)).sum().isNaN {
        // Some lane saw an infinity or a NaN; look for NaN in the vector part.
        var j = 0
        while j < i && !hasNaN { hasNaN = p[j].isNaN; j += 1 }
    }
    while i < count {
        let v = p[i]
        low = Swift.min(low, v)
        high = Swift.max(high, v)
        if v.isNaN { hasNaN = true }
        i += 1
    }
    return (low, high, hasNaN)
}
