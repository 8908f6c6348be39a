/// The geometry of a 2-D convolution or pooling window: kernel, stride,
/// dilation and explicit padding (top, left, bottom, right), as ONNX Conv and
/// MaxPool define them.
///
/// Output size per spatial axis: ⌊(in + padBefore + padAfter − dilation·(k − 1) − 1) / stride⌋ + 1,
/// or the ceiling with `ceilMode` (pooling only), where a window that would
/// start inside the trailing padding is dropped (as PyTorch and ONNX Runtime do).
public struct WindowGeometry: Equatable, Sendable {
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var ceilMode: Bool

    public init(kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                dilationH: Int = 1, dilationW: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0,
                ceilMode: Bool = false) {
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft
        self.padBottom = padBottom; self.padRight = padRight
        self.ceilMode = ceilMode
    }

    /// True when the window has no padding at all.
    public var isUnpadded: Bool { padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0 }

    /// True for a 1×1 window with stride 1 and no padding (a plain GEMM).
    public var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && isUnpadded
    }

    /// The output extent along one axis; nil when the window does not fit.
    static func outputExtent(input: Int, kernel: Int, stride: Int, dilation: Int,
                             padBefore: Int, padAfter: Int, ceilMode: Bool) -> Int? {
        // Sizes from a model file: any may be negative or near Int.max.
        guard kernel >= 1, stride >= 1, dilation >= 1, padBefore >= 0, padAfter >= 0 else { return nil }
        let (spread, o1) = dilation.multipliedReportingOverflow(by: kernel - 1)
        let (padded, o2) = input.addingReportingOverflow(padBefore)
        let (total, o3) = padded.addingReportingOverflow(padAfter)
        guard !o1, !o2, !o3 else { return nil }
        let room = total - spread - 1
        guard room >= 0 else { return nil }
        var out = (ceilMode ? (room + stride - 1) / stride : room / stride) + 1
        if ceilMode && (out - 1) * stride >= input + padBefore { out -= 1 }
        return out
    }

    /// The output height and width for an input of `height`×`width`, or nil when
    /// the window is larger than the padded input.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int)? {
        guard let h = Self.outputExtent(input: height, kernel: kernelH, stride: strideH,
                                        dilation: dilationH, padBefore: padTop,
                                        padAfter: padBottom, ceilMode: ceilMode),
              let w = Self.outputExtent(input: width, kernel: kernelW, stride: strideW,
                                        dilation: dilationW, padBefore: padLeft,
                                        padAfter: padRight, ceilMode: ceilMode)
        else { return nil }
        return (h, w)
    }
}
