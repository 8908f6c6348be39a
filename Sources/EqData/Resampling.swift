/// One axis of torchvision's antialiased bilinear resize (`Resize(...,
/// antialias=True)`, the same filter as PIL's BILINEAR): resizing n input
/// pixels to m scales by s = n/m, output pixel i centres at c = (i + 0.5)·s,
/// and input pixel j weighs t((j + 0.5 − c)/max(s, 1)) with the triangle
/// t(x) = max(0, 1 − |x|), over j in [⌊c − r + 0.5⌋, ⌊c + r + 0.5⌋) with r = max(s, 1),
/// clipped to the image; weights are normalised to sum to 1. Upscaling
/// (s < 1) is plain bilinear with half-pixel centres.
///
/// Only the outputs in `window` are computed (a center crop of the resized
/// image); window positions outside [0, m) are padding and get no taps.
struct AxisResampling {
    /// Per window position: the first input pixel and the weights from it on.
    var first: [Int]
    var weights: [[Float]]

    init(input: Int, output: Int, window: Range<Int>) {
        let scale = Double(input) / Double(output)
        let radius = max(scale, 1), stretch = 1 / max(scale, 1)
        first = []; weights = []
        for i in window {
            guard i >= 0, i < output else { first.append(0); weights.append([]); continue }
            let centre = (Double(i) + 0.5) * scale
            let lo = max(Int(centre - radius + 0.5), 0), hi = min(Int(centre + radius + 0.5), input)
            var taps = (lo..<hi).map { j in max(0, 1 - abs((Double(j) + 0.5 - centre) * stretch)) }
            let total = taps.reduce(0, +)
            if total > 0 { taps = taps.map { $0 / total } }
            first.append(lo)
            weights.append(taps.map(Float.init))
        }
    }
}

/// Resizes planes of one size to a window of another, rows first, then columns.
struct PlaneResampling {
    let rows: AxisResampling, columns: AxisResampling
    let sourceWidth: Int, sourceHeight: Int

    /// Resizes a `width`×`height` plane to `resizedWidth`×`resizedHeight` and
    /// keeps the window starting at (`left`, `top`) of `windowWidth`×`windowHeight` (padding with 0).
    init(width: Int, height: Int, resizedWidth: Int, resizedHeight: Int,
         left: Int, top: Int, windowWidth: Int, windowHeight: Int) {
        sourceWidth = width; sourceHeight = height
        columns = AxisResampling(input: width, output: resizedWidth, window: left..<(left + windowWidth))
        rows = AxisResampling(input: height, output: resizedHeight, window: top..<(top + windowHeight))
    }

    /// Resamples `plane` (row-major, sourceWidth × sourceHeight) into `out` (the window, row-major).
    func apply(_ plane: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let outWidth = columns.first.count
        // Horizontal pass over every source row, then the vertical pass per output row.
        var horizontal = [Float](repeating: 0, count: sourceHeight * outWidth)
        horizontal.withUnsafeMutableBufferPointer { h in
            for y in 0..<sourceHeight {
                let row = plane + y * sourceWidth
                for x in 0..<outWidth {
                    var sum: Float = 0
                    for (k, w) in columns.weights[x].enumerated() { sum += w * row[columns.first[x] + k] }
                    h[y * outWidth + x] = sum
                }
            }
            for y in 0..<rows.first.count {
                let dst = out + y * outWidth
                for x in 0..<outWidth { dst[x] = 0 }
                for (k, w) in rows.weights[y].enumerated() {
                    let src = h.baseAddress! + (rows.first[y] + k) * outWidth
                    for x in 0..<outWidth { dst[x] += w * src[x] }
                }
            }
        }
    }
}
