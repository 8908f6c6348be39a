import EqData
import XCTest

/// Channel conversion, resizing and normalisation against hand-computed values.
final class PreprocessingTests: XCTestCase {
    func run(_ p: Preprocessing, _ image: DecodedImage) -> [Float] {
        var out = [Float](repeating: .nan, count: p.count)
        out.withUnsafeMutableBufferPointer { p.apply(image, into: $0.baseAddress!) }
        return out
    }

    func testNormalisationIsTorchvisionStyle() throws {
        let image = DecodedImage(width: 2, height: 1, channels: 1, samples: [0, 1])
        let p = try Preprocessing(channels: 1, height: 1, width: 2, mean: [0.5], std: [0.25])
        XCTAssertEqual(run(p, image), [-2, 2])
    }

    func testGrayToRGBRepeatsAndRGBToGrayIsLuma() throws {
        let gray = DecodedImage(width: 1, height: 1, channels: 1, samples: [0.4])
        XCTAssertEqual(run(try Preprocessing(channels: 3, height: 1, width: 1), gray), [0.4, 0.4, 0.4])
        let rgba = DecodedImage(width: 1, height: 1, channels: 4, samples: [1, 0.5, 0, 0.1])
        XCTAssertEqual(run(try Preprocessing(channels: 1, height: 1, width: 1), rgba)[0], ((0.299 + 0.5 * 0.587) * 255).rounded() / 255, accuracy: 1e-6)
        // Per-channel mean and std, on values of the 8-bit grid (inputs are rounded to it).
        let levels: [Float] = [25, 51, 76].map { $0 / 255 }
        let rgb = DecodedImage(width: 1, height: 1, channels: 3, samples: levels)
        XCTAssertEqual(run(try Preprocessing(channels: 3, height: 1, width: 1, mean: levels, std: [1, 2, 3]), rgb), [0, 0, 0])
        XCTAssertEqual(run(try Preprocessing(channels: 3, height: 1, width: 1, mean: [0], std: [1, 2, 4]), rgb),
                       [levels[0], levels[1] / 2, levels[2] / 4])
    }

    func testBilinearUpscaleUsesHalfPixelCentres() throws {
        // 2×1 → 4×1: centres at x = -0.25, 0.25, 0.75, 1.25 in source pixels (clamped), then 8-bit rounding.
        let image = DecodedImage(width: 2, height: 1, channels: 1, samples: [0, 1])
        XCTAssertEqual(run(try Preprocessing(channels: 1, height: 1, width: 4), image), [0, 64, 191, 255].map { Float($0) / 255 })
    }

    func testDownscaleAveragesEveryPixelItCovers() throws {
        // 4×1 → 2×1: scale 2, a triangle of radius 2 around each output's centre.
        // Output 0 centres at 1: pixels 0, 1, 2 (centres 0.5, 1.5, 2.5) weigh 0.75, 0.75, 0.25;
        // output 1 centres at 3: pixels 1, 2, 3 weigh 0.25, 0.75, 0.75; both sums are 1.75.
        let image = DecodedImage(width: 4, height: 1, channels: 1, samples: [0, 0, 1, 1])
        let out = run(try Preprocessing(channels: 1, height: 1, width: 2), image)
        XCTAssertEqual(out[0], ((0.25 / 1.75) * 255).rounded() / 255, accuracy: 1e-6)
        XCTAssertEqual(out[1], ((1.5 / 1.75) * 255).rounded() / 255, accuracy: 1e-6)
    }

    struct ResizeCase: Decodable {
        var width: Int
        var height: Int
        var resize: Int
        var crop: Int
        var source: [Int]
        var expected: [Int]
    }

    /// torchvision's Resize(N) + CenterCrop(M) through Pillow (Fixtures/make_jpegs.py):
    /// Pillow rounds to 8 bits between its two passes, eqbench once, so within 2/255.
    func testResizeAndCenterCropMatchTorchvision() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/resize_cases.json")
        let cases = try JSONDecoder().decode([ResizeCase].self, from: Data(contentsOf: url))
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let image = DecodedImage(width: c.width, height: c.height, channels: 3, samples: c.source.map { Float($0) / 255 })
            let p = try Preprocessing(channels: 3, height: c.crop, width: c.crop, resize: c.resize)
            var pixels = [UInt8](repeating: 0, count: p.count)
            pixels.withUnsafeMutableBufferPointer { p.pixels(of: image, into: $0.baseAddress!) }
            let plane = c.crop * c.crop
            var worst = 0
            for i in 0..<plane { for ch in 0..<3 { worst = max(worst, abs(Int(pixels[ch * plane + i]) - c.expected[i * 3 + ch])) } }
            XCTAssertLessThanOrEqual(worst, 2, "\(c.width)×\(c.height) resize \(c.resize) crop \(c.crop): off by \(worst)/255")
        }
    }

    func testCropLargerThanTheResizedImagePadsWithZeros() throws {
        // 2×2 → resize 2 (unchanged), crop 4: one zero row/column each side.
        let image = DecodedImage(width: 2, height: 2, channels: 1, samples: [1, 1, 1, 1])
        let out = run(try Preprocessing(channels: 1, height: 4, width: 4, resize: 2), image)
        XCTAssertEqual(out, [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0])
    }

    func testBadSettingsNameTheFlag() {
        XCTAssertThrowsError(try Preprocessing(channels: 3, height: 1, width: 1, mean: [0, 0])) { error in
            XCTAssertTrue(String(describing: error).hasPrefix("--mean:"))
        }
        XCTAssertThrowsError(try Preprocessing(channels: 1, height: 1, width: 1, std: [0])) { error in
            XCTAssertTrue(String(describing: error).hasPrefix("--std:"))
        }
        XCTAssertThrowsError(try Preprocessing(channels: 4, height: 1, width: 1))
    }
}
