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
        XCTAssertEqual(run(try Preprocessing(channels: 1, height: 1, width: 1), rgba)[0], 0.299 + 0.5 * 0.587, accuracy: 1e-6)
        let rgb = DecodedImage(width: 1, height: 1, channels: 3, samples: [0.1, 0.2, 0.3])
        XCTAssertEqual(run(try Preprocessing(channels: 3, height: 1, width: 1, mean: [0.1, 0.2, 0.3], std: [1, 2, 3]), rgb), [0, 0, 0])
    }

    func testBilinearUpscaleUsesHalfPixelCentres() throws {
        // 2×1 → 4×1: centres at x = -0.25, 0.25, 0.75, 1.25 in source pixels (clamped).
        let image = DecodedImage(width: 2, height: 1, channels: 1, samples: [0, 1])
        XCTAssertEqual(run(try Preprocessing(channels: 1, height: 1, width: 4), image), [0, 0.25, 0.75, 1])
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
