import CPNG
import Foundation

/// A decoded image: `channels` interleaved samples per pixel (1 gray, 2 gray +
/// alpha, 3 RGB, 4 RGBA), each scaled to [0, 1] (8-bit: v/255, 16-bit: v/65535).
public struct DecodedImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var samples: [Float]

    public init(width: Int, height: Int, channels: Int, samples: [Float]) {
        self.width = width; self.height = height; self.channels = channels; self.samples = samples
    }

    /// True when the last channel is alpha.
    public var hasAlpha: Bool { channels == 2 || channels == 4 }
}

/// PNG reading and writing through libpng's simplified API (`png_image_*`),
/// which reports errors in `image.message` instead of longjmp, so a corrupt
/// file is an error, never a crash.
///
/// Values are read as stored, with no gamma conversion: 8-bit files (and
/// palette files, expanded to RGB or RGBA) through 8-bit formats, 16-bit files
/// through libpng's linear formats, whose premultiplied alpha is undone here.
public enum PNGCodec {
    // png.h's PNG_FORMAT_FLAG_* values (the function-like macros do not import).
    static let alphaFlag: UInt32 = 0x01
    static let colorFlag: UInt32 = 0x02
    static let linearFlag: UInt32 = 0x04
    static let colormapFlag: UInt32 = 0x08

    /// Decodes the PNG file at `path`.
    public static func decode(path: String) throws -> DecodedImage {
        try decode(data: ImageFile.contents(of: path), path: path)
    }

    /// Decodes PNG bytes; `path` names them in errors.
    public static func decode(data: Data, path: String) throws -> DecodedImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let began = data.withUnsafeBytes { bytes in
            png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count)
        }
        guard began != 0 else {
            let message = messageText(image)
            png_image_free(&image)
            throw DatasetError.corruptImage(path: path, reason: message)
        }
        let source = image.format
        let linear = source & linearFlag != 0
        let channels = Int(1 + (source & colorFlag != 0 ? 2 : 0) + (source & alphaFlag != 0 ? 1 : 0))
        image.format = (source & ~colormapFlag) & (alphaFlag | colorFlag | linearFlag)
        let width = Int(image.width), height = Int(image.height)
        // The header's size is checked before any pixel memory is allocated: a tiny file can claim 10¹² pixels.
        guard width * height <= JPEGCodec.maxPixels else {
            png_image_free(&image)
            throw DatasetError.corruptImage(path: path, reason: "\(width)×\(height) pixels is beyond the \(JPEGCodec.maxPixels) eqbench decodes")
        }
        // Deflate compresses at most 1032:1, and every row holds a filter byte
        // and at least one bit per pixel: a smaller file is cut short, found
        // before its pixel memory is allocated.
        guard data.count * 1032 >= height * (1 + (width + 7) / 8) else {
            png_image_free(&image)
            throw DatasetError.corruptImage(path: path, reason: "\(width)×\(height) pixels cannot fit in \(data.count) bytes (beyond deflate's 1032:1): the file is cut short")
        }
        let count = width * height * channels
        var samples = [Float](repeating: 0, count: count)
        var finished: Int32 = 0
        if linear {
            var raw = [UInt16](repeating: 0, count: count)
            finished = raw.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * channels), nil) }
            if finished != 0 {
                for i in 0..<count { samples[i] = Float(raw[i]) / 65535 }
                if channels == 2 || channels == 4 { unpremultiply(&samples, channels: channels) }
            }
        } else {
            var raw = [UInt8](repeating: 0, count: count)
            finished = raw.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * channels), nil) }
            if finished != 0 { for i in 0..<count { samples[i] = Float(raw[i]) / 255 } }
        }
        guard finished != 0 else {
            let message = messageText(image)
            png_image_free(&image)
            throw DatasetError.corruptImage(path: path, reason: message)
        }
        return DecodedImage(width: width, height: height, channels: channels, samples: samples)
    }

    /// Writes 8-bit grayscale pixels (row-major) as a PNG file.
    public static func writeGray8(_ pixels: [UInt8], width: Int, height: Int, to path: String) throws {
        precondition(pixels.count == width * height)
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = 0 // PNG_FORMAT_GRAY
        let ok = pixels.withUnsafeBytes { png_image_write_to_file(&image, path, 0, $0.baseAddress, Int32(width), nil) }
        guard ok != 0 else {
            let message = messageText(image)
            png_image_free(&image)
            throw DatasetError.unreadable(path: path, reason: "cannot write PNG: \(message)")
        }
    }

    static func messageText(_ image: png_image) -> String {
        var message = image.message
        let text = withUnsafeBytes(of: &message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "libpng could not decode it" : text
    }

    /// Linear formats store color premultiplied by alpha; divide it back out.
    static func unpremultiply(_ samples: inout [Float], channels: Int) {
        for p in stride(from: 0, to: samples.count, by: channels) {
            let alpha = samples[p + channels - 1]
            guard alpha > 0 else { continue }
            for c in 0..<(channels - 1) { samples[p + c] = min(1, samples[p + c] / alpha) }
        }
    }
}
