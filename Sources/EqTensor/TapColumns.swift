/// The layout of `tapColumns`: im2col with the rows of a window sharing their
/// copies. im2col row (c, i, j) holds padded-input pixel
/// (c, oh·sh + i·dh, ow·sw + j·dw) for every output pixel (oh, ow). Write
/// i·dh = q·sh + p (p < sh, the row phase): that pixel is (c, (oh + q)·sh + p,
/// ow·sw + j·dw), so the whole row is the run of outH·outW floats starting q
/// rows into one copy (c, p, j) of the input that holds pixel
/// (c, r·sh + p, ow·sw + j·dw) at row r, column ow. Taps in the same column
/// and phase read the same copy at different row offsets, so a 3×3 stride-1
/// window needs three copies of the input where im2col writes nine, and a
/// stride-2 one six copies of about half the rows; the GEMM's columns are
/// exactly the output pixels (no junk columns, the epilogue runs in the GEMM).
public struct TapColumnLayout: Sendable {
    /// The row phases the window's taps fall on, with the rows each phase's
    /// copy needs: outH + the largest q of its taps.
    public let phases: [(phase: Int, rows: Int)]
    public let channels: Int, kernelW: Int, outWidth: Int
    /// Floats of one channel's copies: Σ over phases of rows · kernelW · outWidth.
    public let channelCount: Int

    public init(channels: Int, geometry g: WindowGeometry, outHeight: Int, outWidth: Int) {
        var rows: [Int: Int] = [:]
        for i in 0..<g.kernelH {
            let (q, p) = (i * g.dilationH).quotientAndRemainder(dividingBy: g.strideH)
            rows[p] = max(rows[p] ?? 0, outHeight + q)
        }
        phases = rows.keys.sorted().map { ($0, rows[$0]!) }
        self.channels = channels
        kernelW = g.kernelW
        self.outWidth = outWidth
        channelCount = phases.reduce(0) { $0 + $1.rows } * g.kernelW * outWidth
    }

    /// Floats `tapColumns` writes, with the 8 its eight-wide row stores may pass the end by.
    public var count: Int { channels * channelCount + 8 }

    /// Where copy (c, phase index, j) starts.
    @inlinable
    public func copyOffset(channel: Int, phaseIndex: Int, column j: Int) -> Int {
        let before = phases[..<phaseIndex].reduce(0) { $0 + $1.rows }
        return channel * channelCount + (before * kernelW + phases[phaseIndex].rows * j) * outWidth
    }

    /// The start of im2col row (c, i, j) for each row in im2col's order
    /// (c outermost, j innermost): the B-row offsets of the conv's GEMM.
    public func rowOffsets(geometry g: WindowGeometry) -> [Int] {
        (0..<channels).flatMap { c in
            (0..<g.kernelH).flatMap { i in
                let (q, p) = (i * g.dilationH).quotientAndRemainder(dividingBy: g.strideH)
                let phaseIndex = phases.firstIndex { $0.phase == p }!
                return (0..<g.kernelW).map { j in copyOffset(channel: c, phaseIndex: phaseIndex, column: j) + q * outWidth }
            }
        }
    }
}

/// Writes the copies of `TapColumnLayout` for one image [C, H, W]: copy
/// (c, p, j) row r, column ow = padded input (c, r·sh + p, ow·sw + j·dw), zero
/// in the padding. `columns` holds `layout.count` floats; `padded` is
/// the zero-bordered plane of `forEachPaddedPlane` (`paddedPlaneScratchCount`).
@inlinable
public func tapColumns(input: UnsafePointer<Float>, height: Int, width: Int, geometry g: WindowGeometry,
                       layout: TapColumnLayout, columns: UnsafeMutablePointer<Float>,
                       padded: UnsafeMutablePointer<Float>) {
    forEachPaddedPlane(input: input, channels: layout.channels, height: height, width: width, geometry: g,
                       padded: padded) { c, plane, planeWidth in
        for (phaseIndex, phase) in layout.phases.enumerated() {
            for j in 0..<g.kernelW {
                gatherRows(plane, planeWidth: planeWidth, firstRow: phase.phase, column: j * g.dilationW,
                           strideH: g.strideH, strideW: g.strideW, rows: phase.rows, outWidth: layout.outWidth,
                           readSlack: !g.isUnpadded,
                           into: columns + layout.copyOffset(channel: c, phaseIndex: phaseIndex, column: j))
            }
        }
    }
}

/// Calls `body(c, plane, planeWidth)` for each channel of one image with the
/// channel's plane: the input's own for an unpadded window, else a copy in
/// the zero-bordered `padded` (`paddedPlaneScratchCount` elements; its border is
/// zeroed once, since every channel overwrites only the interior), so the
/// gathers need no bounds checks and no per-row zero fills.
@inlinable
func forEachPaddedPlane(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, geometry g: WindowGeometry,
                        padded: UnsafeMutablePointer<Float>,
                        _ body: (Int, UnsafePointer<Float>, Int) -> Void) {
    guard !g.isUnpadded else {
        for c in 0..<channels { body(c, input + c * height * width, width) }
        return
    }
    let paddedW = width + g.padLeft + g.padRight
    padded.update(repeating: 0, count: (height + g.padTop + g.padBottom) * paddedW)
    for c in 0..<channels {
        let plane = input + c * height * width
        for h in 0..<height {
            copyRow(plane + h * width, padded + (h + g.padTop) * paddedW + g.padLeft, count: width)
        }
        body(c, UnsafePointer(padded), paddedW)
    }
}

/// dst[r·outWidth + ow] = plane[(firstRow + r·sh)·planeWidth + column + ow·sw]
/// for `rows` rows: one copy of `tapColumns`.
/// `readSlack` says the plane is followed by 16 readable floats (a padded
/// plane), which lets rows of 8 or fewer outputs load whole vectors. Rows of
/// 8 or fewer are stored eight wide: the extra lanes land on the next row,
/// written after them, or in the slack of `TapColumnLayout.count`.
@inlinable
func gatherRows(_ plane: UnsafePointer<Float>, planeWidth: Int, firstRow: Int, column: Int, strideH sh: Int, strideW sw: Int,
                rows: Int, outWidth: Int, readSlack: Bool, into dst: UnsafeMutablePointer<Float>) {
    if readSlack && outWidth <= 8 && sw <= 2 {
        // Small maps (7 or 8 wide): one vector per row, read from the padded plane's slack.
        for r in 0..<rows {
            let src = plane + (firstRow + r * sh) * planeWidth + column
            store8(sw == 1 ? load8(src) : loadEven8(src), dst + r * outWidth)
        }
        return
    }
    if sw == 2 && outWidth >= 8 && 2 * outWidth <= planeWidth - column {
        // Eight outputs from the even lanes of sixteen inputs, the last vector
        // overlapping the one before it; every read stays in the source row
        // (1×1 stride-2 convs read 14-wide outputs from 28-wide rows).
        // Pointers step row by row: the per-row index arithmetic,
        // overflow-checked, cost more than the two vectors of a 14-wide row.
        var src = plane + firstRow * planeWidth + column, dstRow = dst
        let rowStep = sh * planeWidth
        for _ in 0..<rows {
            forEachOverlappingVector(outWidth) { at in store8(loadEven8(src + (at &* 2)), dstRow + at) }
            src += rowStep
            dstRow += outWidth
        }
        return
    }
    for r in 0..<rows {
        let src = plane + (firstRow + r * sh) * planeWidth + column
        let dstRow = dst + r * outWidth
        if sw == 1 {
            for ow in 0..<outWidth { dstRow[ow] = src[ow] }
        } else if sw == 2 {
            // A constant stride (wrapping multiply: no overflow branch in the
            // loop) lets the compiler use shuffles.
            for ow in 0..<outWidth { dstRow[ow] = src[ow &* 2] }
        } else {
            for ow in 0..<outWidth { dstRow[ow] = src[ow &* sw] }
        }
    }
}

/// The scratch elements `forEachPaddedPlane` needs for its zero-bordered
/// plane, with the slack that `gatherRows`'s sixteen-wide reads of the last
/// rows may touch.
@inlinable
public func paddedPlaneScratchCount(height: Int, width: Int, geometry g: WindowGeometry) -> Int {
    g.isUnpadded ? 0 : (height + g.padTop + g.padBottom) * (width + g.padLeft + g.padRight) + 16
}

