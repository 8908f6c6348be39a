import CTurboJPEG
import Foundation

/// JPEG reading through libjpeg-turbo's TurboJPEG API, which reports errors as
/// return codes, so a corrupt file is an error, never a crash.
///
/// Decoding matches what PIL (and so torchvision's loader) produces: the
/// accurate integer IDCT and fancy upsampling (libjpeg's defaults). Grayscale
/// files decode to one channel, colour files to RGB, and CMYK/YCCK files to
/// RGB as PIL's `convert("RGB")` does: R = (255 − K) − C·(255 − K)/255, rounded,
/// where Adobe files (APP14 marker) store the inks inverted.
public enum JPEGCodec {
    /// Images above this many pixels are refused before allocating (a hostile header can claim 4 gigapixels).
    public static let maxPixels = 1 << 28

    /// Decodes JPEG bytes; `path` names them in errors.
    public static func decode(data: Data, path: String) throws -> DecodedImage {
        guard let handle = tjInitDecompress() else {
            throw DatasetError.corruptImage(path: path, reason: "libjpeg-turbo could not start a decoder")
        }
        defer { tjDestroy(handle) }
        return try data.withUnsafeBytes { raw -> DecodedImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            guard tjDecompressHeader3(handle, bytes.baseAddress, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
                throw DatasetError.corruptImage(path: path, reason: message(handle))
            }
            guard width > 0, height > 0, Int(width) * Int(height) <= maxPixels else {
                throw DatasetError.corruptImage(path: path, reason: "\(width)×\(height) pixels is beyond the \(maxPixels) eqbench decodes")
            }
            // Huffman coding spends at least one bit on every 8×8 block's DC
            // value: a file smaller than that is cut short, and libjpeg-turbo
            // would fill (and allocate) the whole declared image before saying so.
            let blocks = ((Int(width) + 7) / 8) * ((Int(height) + 7) / 8)
            guard bytes.count * 8 >= blocks else {
                throw DatasetError.corruptImage(path: path, reason: "\(width)×\(height) pixels cannot fit in \(bytes.count) bytes (under one bit per 8×8 block): the file is cut short")
            }
            let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
            let isGray = colorspace == Int32(TJCS_GRAY.rawValue)
            let (format, stored) = isCMYK ? (TJPF_CMYK, 4) : isGray ? (TJPF_GRAY, 1) : (TJPF_RGB, 3)
            let w = Int(width), h = Int(height)
            var pixels = [UInt8](repeating: 0, count: w * h * stored)
            let status = pixels.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, bytes.baseAddress, UInt(bytes.count), out.baseAddress, width, 0, height,
                              Int32(format.rawValue), TJFLAG_ACCURATEDCT)
            }
            // Warnings (e.g. extraneous bytes before a marker) still give a whole
            // image, as PIL accepts them; a file cut short does not.
            if status != 0 {
                let text = message(handle)
                if tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) || text.contains("Premature end") {
                    throw DatasetError.corruptImage(path: path, reason: text)
                }
            }
            guard isCMYK else {
                return DecodedImage(width: w, height: h, channels: stored, samples: pixels.map { Float($0) / 255 })
            }
            let inverted = hasAdobeMarker(bytes)
            var samples = [Float](repeating: 0, count: w * h * 3)
            for p in 0..<(w * h) {
                // Ink amounts (Adobe files store 255 − ink); PIL's rounded (255 − K) − C·(255 − K)/255.
                func ink(_ v: UInt8) -> Int { inverted ? 255 - Int(v) : Int(v) }
                let notK = 255 - ink(pixels[4 * p + 3])
                for c in 0..<3 {
                    let product = ink(pixels[4 * p + c]) * notK + 128
                    samples[3 * p + c] = Float(notK - ((product >> 8) + product) >> 8) / 255
                }
            }
            return DecodedImage(width: w, height: h, channels: 3, samples: samples)
        }
    }

    /// True when the marker segments before the first scan include Adobe's APP14.
    static func hasAdobeMarker(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var at = 2
        while at + 4 <= bytes.count, bytes[at] == 0xFF {
            let marker = bytes[at + 1]
            if marker == 0xDA { return false } // start of scan
            let length = Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            if marker == 0xEE, at + 9 <= bytes.count, Array(bytes[(at + 4)..<(at + 9)]) == Array("Adobe".utf8) { return true }
            at += 2 + length
        }
        return false
    }

    static func message(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "libjpeg-turbo could not decode it" }
        return String(cString: text)
    }
}
