/// e^x on eight lanes, for the sigmoid and SiLU activations (EfficientNet-class
/// models apply one to nearly every conv output).
///
/// Cephes' `expf` scheme: x = n·ln 2 + r with n = round(x·log₂e) and |r| ≤ ln 2 / 2
/// (ln 2 split in two constants so n·ln 2 is exact), e^r by a degree-6
/// polynomial (relative error ≈ 2·10⁻⁷ on that interval), and 2ⁿ built in the
/// exponent bits. x is clamped to [−87.3, 88.37], where e^x is a normal float.
@inlinable @inline(__always)
func expLanes(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Compares and selects, bit casts and wrapping integer ops only: the
    // generic SIMD conversions and `rounded` are per-lane calls in Swift.
    var v = x
    v.replace(with: 88.37626, where: x .> 88.37626)
    v.replace(with: -87.33654, where: x .< -87.33654)
    // Adding 1.5·2²³ rounds to the nearest integer (ties to even) and leaves it in the low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = v * 1.442695041 + magic
    let n = shifted - magic
    var r = v - n * 0.693359375   // exact: 0.693359375 has few mantissa bits
    r = r - n * -2.12194440e-4
    let r2 = r * r
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r2 + r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    return p * unsafeBitCast((integer &+ 127) &<< 23, to: SIMD8<Float>.self)
}

/// Logistic sigmoid 1 / (1 + e^−x), or x times it (SiLU) with `timesInput`,
/// in place over `count` floats, eight at a time; the tail goes through the
/// same lanes, so every element gets the same arithmetic wherever it sits.
@inlinable
public func logisticInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, timesInput: Bool) {
    @inline(__always) func f(_ v: SIMD8<Float>) -> SIMD8<Float> {
        timesInput ? v / (1 + expLanes(-v)) : 1 / (1 + expLanes(-v))
    }
    var i = 0
    while i + 8 <= count {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(x + i).storeBytes(of: f(v), as: SIMD8<Float>.self)
        i += 8
    }
    if i < count {
        var tail = SIMD8<Float>()
        for k in 0..<(count - i) { tail[k] = x[i + k] }
        let y = f(tail)
        for k in 0..<(count - i) { x[i + k] = y[k] }
    }
}
