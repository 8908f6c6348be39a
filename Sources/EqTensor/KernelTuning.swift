/// The runtime's tuning thresholds, one value: each field decides which
/// kernel or tile size runs, and `measured` holds the values set by
/// measurement on the demo models (the commit named). An `Executor` takes the
/// value (`measured` unless told otherwise), so the Benchmarks/ package can
/// run the kernel a threshold rejects beside the one it picks, at shapes on
/// both sides of it; its static thresholds (Benchmarks/Thresholds/) fail when
/// a threshold stops picking the faster kernel on a new machine. Change one
/// here and re-run `Benchmarks/` before and after.
public struct KernelTuning: Hashable, Sendable {
    /// Shifted rows (one zero-bordered copy of the input, a GEMM grown by
    /// rowLength / outW) run only while that growth is at most this: 3×3
    /// windows on 28² and 14² maps, not on 7² (commit 021089f).
    public var shiftedRowsMaxGrowth = 1.10

    /// A conv whose tap columns (the im2col rows read from per-tap copies)
    /// hold at most this many floats, 16 KB well inside L1, runs as tap
    /// columns whatever the map size (stem convs; commits 4dd8920, a4088ab).
    public var tapColumnsInL1 = 4 * 1024

    /// Floats of the widest value of one tile's images, about one core's L2
    /// (512 KB): a step's output is still in L2 when the next step reads it
    /// (commit a566a42).
    public var tileFloats = 131_072
    /// The most images a tile holds (an MLP's linear layers then run 128 rows).
    public var tileImagesMax = 128

    /// Depthwise 3×3 planes of at most this many floats (7²) run as one flat
    /// row of vectors (`FlatDepthwise`; commit aeaa96e); at 14² the direct
    /// kernel is the faster one on Zen (the threshold benchmarks).
    public var flatDepthwisePlaneMax = 49

    public init() {}

    /// The values measured on the demo models: what every run uses.
    public static let measured = KernelTuning()
}
