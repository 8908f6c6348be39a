/// The runtime's tuning thresholds, in one place: each decides which kernel
/// or tile size runs, was set by measurement on the demo models (the commit
/// named), and is watched by the Benchmarks/ package, whose baseline shows
/// when a threshold stops holding on a new machine. Change one here and
/// re-run `Benchmarks/` before and after.
public enum KernelTuning {
    /// Shifted rows (one zero-bordered copy of the input, a GEMM grown by
    /// rowLength / outW) run only while that growth is at most this: 3×3
    /// windows on 28² and 14² maps, not on 7² (commit 021089f).
    public static let shiftedRowsMaxGrowth = 1.10

    /// A conv whose tap columns (the im2col rows read from per-tap copies)
    /// hold at most this many floats, 16 KB well inside L1, runs as tap
    /// columns whatever the map size (stem convs; commits 4dd8920, a4088ab).
    public static let tapColumnsInL1 = 4 * 1024

    /// Floats of the widest value of one tile's images, about one core's L2
    /// (512 KB): a step's output is still in L2 when the next step reads it
    /// (commit a566a42).
    public static let tileFloats = 131_072
    /// The most images a tile holds (an MLP's linear layers then run 128 rows).
    public static let tileImagesMax = 128

    /// Depthwise 3×3 planes of at most this many floats (14²) run as one flat
    /// row of vectors (`FlatDepthwise`; commit aeaa96e).
    public static let flatDepthwisePlaneMax = 256
}
