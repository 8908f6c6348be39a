/// How an image becomes a model input, as torchvision's ImageNet transforms do:
/// 1. channel conversion (PIL's `convert`): alpha is dropped; gray → RGB
///    repeats the gray value; RGB → gray is the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B;
/// 2. geometry: with `resize` N, the shorter side is resized to N (the longer
///    to ⌊N·long/short⌋) and the centre height × width kept (`Resize(N)` +
///    `CenterCrop`: offset round((size − crop)/2) with ties to even, zero
///    padding when the image is smaller); without, the image is resized to
///    height × width. Both use the antialiased bilinear filter of `AxisResampling`;
/// 3. the result is rounded to 8-bit pixels (as PIL images are), the form
///    `PreparedImages` caches;
/// 4. normalisation x' = (p/255 − mean[c]) / std[c] (`ToTensor` + `Normalize`).
public struct Preprocessing: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var mean: [Float]
    public var std: [Float]
    /// The shorter side's length before the center crop to height × width (nil: no crop).
    public var resize: Int?

    /// `mean` and `std` hold one value for all channels or one per channel.
    public init(channels: Int, height: Int, width: Int, mean: [Float] = [0], std: [Float] = [1], resize: Int? = nil) throws {
        guard channels == 1 || channels == 3 else {
            throw DatasetError.invalid(path: "(model input)", reason: "eqbench feeds images to models with 1 or 3 input channels, this one has \(channels)")
        }
        guard height > 0, width > 0 else {
            throw DatasetError.invalid(path: "(model input)", reason: "the input is \(height)×\(width) pixels; images need at least one")
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
        if let resize, !(1...(1 << 15)).contains(resize) {
            throw DatasetError.invalid(path: "--resize", reason: "the shorter side must be 1 to 32768 pixels, got \(resize)")
        }
        self.channels = channels; self.height = height; self.width = width
        self.mean = mean; self.std = std; self.resize = resize
    }

    /// The element count of one preprocessed image, C·H·W.
    public var count: Int { channels * height * width }

    /// The geometry alone (channels, size, resize and crop): images prepared
    /// for one geometry serve every model that shares it, whatever its normalisation.
    public var geometryKey: String { "\(channels)x\(height)x\(width)" + (resize.map { " resize \($0)" } ?? "") }

    /// Writes the preprocessed image, CHW, into `out` (which holds `count` floats).
    public func apply(_ image: DecodedImage, into out: UnsafeMutablePointer<Float>) {
        var pixels = [UInt8](repeating: 0, count: count)
        pixels.withUnsafeMutableBufferPointer { self.pixels(of: image, into: $0.baseAddress!) }
        pixels.withUnsafeBufferPointer { normalize($0.baseAddress!, into: out) }
    }

    /// Steps 1–3: writes the image's 8-bit CHW pixels into `out` (`count` bytes).
    public func pixels(of image: DecodedImage, into out: UnsafeMutablePointer<UInt8>) {
        let plane = image.width * image.height
        let planar = convertChannels(image)
        let resampling = geometry(width: image.width, height: image.height)
        var window = [Float](repeating: 0, count: height * width)
        planar.withUnsafeBufferPointer { source in
            window.withUnsafeMutableBufferPointer { target in
                for c in 0..<channels {
                    let src = source.baseAddress! + c * plane
                    if let resampling {
                        resampling.apply(src, into: target.baseAddress!)
                    } else {
                        target.baseAddress!.update(from: src, count: plane)
                    }
                    let dst = out + c * height * width
                    for i in 0..<(height * width) { dst[i] = UInt8((min(max(target[i], 0), 1) * 255).rounded()) }
                }
            }
        }
    }

    /// Step 4: normalises `count` 8-bit CHW pixels into floats.
    public func normalize(_ pixels: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            let m = mean.count == 1 ? mean[0] : mean[c]
            let s = std.count == 1 ? std[0] : std[c]
            let table = (0..<256).map { (Float($0) / 255 - m) / s }
            let base = c * height * width
            table.withUnsafeBufferPointer { t in
                for i in base..<(base + height * width) { out[i] = t[Int(pixels[i])] }
            }
        }
    }

    /// Step 1: the image as `channels` planes of floats in [0, 1].
    func convertChannels(_ image: DecodedImage) -> [Float] {
        let colorChannels = image.hasAlpha ? image.channels - 1 : image.channels
        let plane = image.width * image.height
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
        return planar
    }

    /// Step 2 for an image of this size, or nil when it is already height × width and nothing is cropped.
    func geometry(width w: Int, height h: Int) -> PlaneResampling? {
        guard let resize else {
            if w == width && h == height { return nil }
            return PlaneResampling(width: w, height: h, resizedWidth: width, resizedHeight: height,
                                   left: 0, top: 0, windowWidth: width, windowHeight: height)
        }
        let (resizedWidth, resizedHeight) = Self.resized(width: w, height: h, shorterSide: resize)
        return PlaneResampling(width: w, height: h, resizedWidth: resizedWidth, resizedHeight: resizedHeight,
                               left: Self.cropOffset(size: resizedWidth, crop: width),
                               top: Self.cropOffset(size: resizedHeight, crop: height),
                               windowWidth: width, windowHeight: height)
    }

    /// torchvision's `Resize(n)` output size: shorter side n, longer ⌊n·long/short⌋.
    static func resized(width w: Int, height h: Int, shorterSide n: Int) -> (width: Int, height: Int) {
        w <= h ? (n, Int(Double(n * h) / Double(w))) : (Int(Double(n * w) / Double(h)), n)
    }

    /// torchvision's `CenterCrop` start along one axis; negative when the axis is zero-padded.
    static func cropOffset(size: Int, crop: Int) -> Int {
        crop > size ? -((crop - size) / 2) : Int((Double(size - crop) / 2).rounded(.toNearestOrEven))
    }
}
