import EqData
import Foundation
import XCTest

/// PNG decoding of every layout libpng's simplified API reads, against the
/// pixel values Fixtures/make_pngs.py wrote with its own encoder.
final class PNGDecodingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func decode(_ name: String) throws -> DecodedImage {
        try PNGCodec.decode(path: Self.fixtures.appendingPathComponent(name).path)
    }

    func assertSamples(_ image: DecodedImage, _ expected8: [Int], channels: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(image.width, 3, file: file, line: line)
        XCTAssertEqual(image.height, 2, file: file, line: line)
        XCTAssertEqual(image.channels, channels, file: file, line: line)
        XCTAssertEqual(image.samples, expected8.map { Float($0) / 255 }, file: file, line: line)
    }

    func testEightBitLayoutsDecodeToTheirStoredValues() throws {
        assertSamples(try decode("gray8.png"), [0, 128, 255, 10, 20, 30], channels: 1)
        assertSamples(try decode("gray_alpha8.png"), [0, 255, 128, 0, 255, 100, 10, 50, 20, 50, 30, 50], channels: 2)
        assertSamples(try decode("rgb8.png"), [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90], channels: 3)
        assertSamples(try decode("rgba8.png"), [255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255,
                                                10, 20, 30, 40, 40, 50, 60, 40, 70, 80, 90, 40], channels: 4)
    }

    func testPaletteAndOneBitImagesExpand() throws {
        assertSamples(try decode("palette.png"), [0, 0, 0, 255, 255, 255, 200, 100, 50,
                                                  200, 100, 50, 255, 255, 255, 0, 0, 0], channels: 3)
        assertSamples(try decode("gray1.png"), [255, 0, 255, 0, 255, 0], channels: 1)
    }

    func testSixteenBitGrayKeepsItsLinearValues() throws {
        let image = try decode("gray16.png")
        XCTAssertEqual(image.channels, 1)
        let expected: [Float] = [0, 32768, 65535, 1000, 2000, 3000].map { $0 / 65535 }
        for (a, b) in zip(image.samples, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testCorruptFilesAreErrorsThatNameTheFile() {
        for name in ["truncated.png", "bad_crc.png", "not_a_png.png"] {
            XCTAssertThrowsError(try decode(name), name) { error in
                guard case let .corruptImage(path, reason)? = error as? DatasetError else { return XCTFail("\(error)") }
                XCTAssertTrue(path.hasSuffix(name))
                XCTAssertFalse(reason.isEmpty)
            }
        }
        XCTAssertThrowsError(try decode("missing.png")) { error in
            XCTAssertTrue(String(describing: error).contains("missing.png: image file not found"))
        }
    }

    /// A 69-byte file whose header claims 10⁶×10⁶ pixels is refused before
    /// any pixel memory is allocated.
    func testHugeDeclaredSizeIsRefusedBeforeAllocating() {
        XCTAssertThrowsError(try decode("huge_header.png")) { error in
            XCTAssertTrue(String(describing: error).contains("1000000×1000000 pixels is beyond"), "\(error)")
        }
    }

    /// A 69-byte file claiming 16384×16384 pixels, within the pixel limit,
    /// cannot hold them even at deflate's best ratio: refused before its 1 GB
    /// of samples is allocated.
    func testFileTooSmallForItsDeclaredSizeIsRefused() {
        XCTAssertThrowsError(try decode("cut_short_big_header.png")) { error in
            XCTAssertTrue(String(describing: error).contains("16384×16384 pixels cannot fit in 69 bytes"), "\(error)")
        }
    }

    func testWrittenGrayPNGReadsBack() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-\(UUID()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pixels: [UInt8] = [0, 1, 2, 253, 254, 255]
        try PNGCodec.writeGray8(pixels, width: 3, height: 2, to: path)
        assertSamples(try PNGCodec.decode(path: path), pixels.map(Int.init), channels: 1)
    }
}
