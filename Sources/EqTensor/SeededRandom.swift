/// SplitMix64 (Steele, Lea and Flood 2014): a tiny seeded generator, so random
/// test data, synthetic weights and bootstrap resamples are the same on every
/// platform and run.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float uniformly distributed in [-1, 1).
    public mutating func nextSigned() -> Float {
        Float(next() >> 40) / Float(1 << 23) - 1
    }

    /// `count` floats uniformly distributed in [-1, 1).
    public mutating func signedArray(_ count: Int) -> [Float] {
        (0..<count).map { _ in nextSigned() }
    }
}
