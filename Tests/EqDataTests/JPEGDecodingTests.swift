import EqData
import Foundation
import XCTest

/// JPEG decoding through libjpeg-turbo against the pixels Pillow decodes
/// (Fixtures/make_jpegs.py), and content sniffing between PNG and JPEG.
final class JPEGDecodingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Case: Decodable {
        var width: Int
        var height: Int
        var channels: Int
        var pixels: [Int]
    }

    func testRGBGrayAndCMYKMatchPillow() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("jpeg_cases.json"))
        let cases = try JSONDecoder().decode([String: Case].self, from: data)
        XCTAssertEqual(Set(cases.keys), ["rgb.jpg", "gray.JPEG", "cmyk.jpg", "jpeg_named.png"])
        for (name, expected) in cases {
            let image = try ImageFile.decode(path: Self.fixtures.appendingPathComponent(name).path)
            XCTAssertEqual(image.width, expected.width, name)
            XCTAssertEqual(image.height, expected.height, name)
            XCTAssertEqual(image.channels, expected.channels, name)
            // Same library family and IDCT: equal, up to one level where Pillow bundles another libjpeg-turbo.
            let worst = zip(image.samples, expected.pixels).map { abs(Int(($0 * 255).rounded()) - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1, "\(name): a pixel differs from Pillow's by \(worst)/255")
        }
    }

    func testCorruptAndForeignFilesAreOneLineErrorsNamingTheFile() {
        for name in ["truncated.jpg", "not_a_png.png"] {
            let path = Self.fixtures.appendingPathComponent(name).path
            XCTAssertThrowsError(try ImageFile.decode(path: path)) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.hasPrefix(path + ": corrupt or unsupported image"), text)
                XCTAssertFalse(text.contains("\n"), text)
            }
        }
    }

    func testHeaderClaimingGigapixelsIsRefusedBeforeAllocating() throws {
        var bytes = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("rgb.jpg")))
        // Rewrite the SOF0 frame's height and width to 30000 × 30000 (libjpeg's own limit is 65500 a side).
        let sof = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        for offset in [5, 7] { bytes[sof + offset] = 0x75; bytes[sof + offset + 1] = 0x30 }
        XCTAssertThrowsError(try JPEGCodec.decode(data: Data(bytes), path: "huge.jpg")) { error in
            XCTAssertTrue(String(describing: error).contains("beyond"), String(describing: error))
        }
    }

    /// A 131-byte CMYK JPEG declaring 12140×17007 pixels, which libjpeg-turbo
    /// would allocate and fill whole before reporting the file cut short
    /// (a `make fuzz` input): it is refused from its size.
    func testTinyFileDeclaringAHugeImageIsRefusedBeforeDecoding() throws {
        let url = Self.fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus/jpeg/crash-tiny-file-huge-image.jpg")
        XCTAssertThrowsError(try JPEGCodec.decode(data: try Data(contentsOf: url), path: "tiny.jpg")) { error in
            XCTAssertTrue(String(describing: error).contains("12140×17007 pixels cannot fit in 131 bytes"), String(describing: error))
        }
    }
}
