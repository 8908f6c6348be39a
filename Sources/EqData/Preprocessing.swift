/// How an image becomes a model input: channel conversion, bilinear resize to
/// the model's height and width, then per-channel normalisation
/// x' = (x − mean[c]) / std[c] on pixels already scaled to [0, 1], as
/// torchvision's ToTensor + Normalize do.
///
/// Channel rules (as PIL's `convert`): alpha is dropped; gray → RGB repeats the
/// gray value; RGB → gray is the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B.
/// Resizing uses half-pixel centres (align_corners = false), no antialiasing.
public struct Preprocessing: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var mean: [Float]
    public var std: [Float]

    /// `mean` and `std` hold one value for all channels or one per channel.
    public init(channels: Int, height: Int, width: Int, mean: [Float] = [0], std: [Float] = [1]) throws {
        guard channels == 1 || channels == 3 else {
            throw DatasetError.invalid(path: "(model input)", reason: "eqbench feeds images to models with 1 or 3 input channels, this one has \(channels)")
        }
        for (name, values) in [("mean", mean), ("std", std)] where values.count != 1 && values.count != channels {
            throw DatasetError.invalid(path: "--\(name)", reason: "give one value or \(channels) (one per channel), not \(values.count)")
        }
        if let bad = std.first(where: { !($0 > 0) || !$0.isFinite }) {
            throw DatasetError.invalid(path: "--std", reason: "every std must be a positive number, got \(bad)")
        }
        if let bad = mean.first(where: { !$0.isFinite }) {
            throw DatasetError.invalid(path: "--mean", reason: "every mean must be a finite number, got \(bad)")
        }
        self.channels = channels; self.height = height; self.width = width
        self.mean = mean; self.std = std
    }

    /// The element count of one preprocessed image, C·H·W.
    public var count: Int { channels * height * width }

    /// Writes the preprocessed image, CHW, into `out` (which holds `count` floats).
    public func apply(_ image: DecodedImage, into out: UnsafeMutablePointer<Float>) {
        let colorChannels = image.hasAlpha ? image.channels - 1 : image.channels
        let plane = image.width * image.height
        // 1. Channel conversion into planar [channels, h, w].
        var planar = [Float](repeating: 0, count: channels * plane)
        for p in 0..<plane {
            let px = p * image.channels
            if channels == colorChannels {
                for c in 0..<channels { planar[c * plane + p] = image.samples[px + c] }
            } else if channels == 3 {
                for c in 0..<3 { planar[c * plane + p] = image.samples[px] }
            } else {
                planar[p] = 0.299 * image.samples[px] + 0.587 * image.samples[px + 1] + 0.114 * image.samples[px + 2]
            }
        }
        // 2. Resize and 3. normalise.
        let sameSize = image.width == width && image.height == height
        for c in 0..<channels {
            let m = mean.count == 1 ? mean[0] : mean[c]
            let s = std.count == 1 ? std[0] : std[c]
            let source = Array(planar[(c * plane)..<((c + 1) * plane)])
            let resized = sameSize ? source : Preprocessing.bilinear(source, width: image.width, height: image.height,
                                                                     toWidth: width, toHeight: height)
            let dst = out + c * height * width
            for i in 0..<(height * width) { dst[i] = (resized[i] - m) / s }
        }
    }

    /// Bilinear resampling of one plane with half-pixel centres.
    static func bilinear(_ src: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
        var out = [Float](repeating: 0, count: toWidth * toHeight)
        let sy = Float(height) / Float(toHeight), sx = Float(width) / Float(toWidth)
        for y in 0..<toHeight {
            let fy = max(0, (Float(y) + 0.5) * sy - 0.5)
            let y0 = min(Int(fy), height - 1), y1 = min(y0 + 1, height - 1)
            let wy = fy - Float(y0)
            for x in 0..<toWidth {
                let fx = max(0, (Float(x) + 0.5) * sx - 0.5)
                let x0 = min(Int(fx), width - 1), x1 = min(x0 + 1, width - 1)
                let wx = fx - Float(x0)
                let top = src[y0 * width + x0] * (1 - wx) + src[y0 * width + x1] * wx
                let bottom = src[y1 * width + x0] * (1 - wx) + src[y1 * width + x1] * wx
                out[y * toWidth + x] = top * (1 - wy) + bottom * wy
            }
        }
        return out
    }
}
