import EqData
import Foundation
import XCTest

/// IDX import into an image folder and the folder's ordering and errors.
final class DatasetFolderTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-data-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// Writes an unsigned-byte IDX file (plain).
    func writeIDX(_ name: String, dims: [Int], bytes: [UInt8]) throws -> String {
        var data: [UInt8] = [0, 0, 0x08, UInt8(dims.count)]
        for d in dims { data += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        let url = scratch.appendingPathComponent(name)
        try Data(data + bytes).write(to: url)
        return url.path
    }

    func testIDXImportKeepsSourceOrderAndPerClassLimit() throws {
        // Six 2×2 images with labels 1, 0, 1, 1, 0, 2 and pixel value = index.
        let images = try writeIDX("img.idx", dims: [6, 2, 2], bytes: (0..<6).flatMap { [UInt8]( repeating: UInt8($0 * 40), count: 4) })
        let labels = try writeIDX("lab.idx", dims: [6], bytes: [1, 0, 1, 1, 0, 2])
        let out = scratch.appendingPathComponent("split")
        let written = try IDXImport.writeImageFolder(images: IDXImport.read(path: images), labels: IDXImport.read(path: labels),
                                                     classNames: ["a", "b", "c"], perClass: 2, output: out)
        XCTAssertEqual(written, 5)
        let folder = try ImageFolder(root: out)
        XCTAssertEqual(folder.classes, ["a", "b", "c"])
        XCTAssertEqual(folder.items.map(\.relativePath), ["b/00000.png", "a/00001.png", "b/00002.png", "a/00004.png", "c/00005.png"])
        XCTAssertEqual(folder.items.map(\.label), [1, 0, 1, 0, 2])
        let image = try PNGCodec.decode(path: folder.path(of: folder.items[3]))
        XCTAssertEqual(image.samples, [Float](repeating: 160.0 / 255, count: 4))
        // Importing into a non-empty folder is refused.
        XCTAssertThrowsError(try IDXImport.writeImageFolder(images: IDXImport.read(path: images), labels: IDXImport.read(path: labels),
                                                            classNames: ["a", "b", "c"], perClass: nil, output: out))
        // So is importing onto a file, which the rename used to replace.
        let file = scratch.appendingPathComponent("notes.txt")
        try "keep me".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try IDXImport.writeImageFolder(images: IDXImport.read(path: images), labels: IDXImport.read(path: labels),
                                                            classNames: ["a", "b", "c"], perClass: nil, output: file)) { error in
            XCTAssertTrue("\(error)".contains("notes.txt: exists and is not a folder"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "keep me")
    }

    func testBadIDXFilesAreNamed() throws {
        let bad = try writeIDX("bad.idx", dims: [2, 2], bytes: [1, 2, 3])
        XCTAssertThrowsError(try IDXImport.read(path: bad)) { error in
            XCTAssertTrue(String(describing: error).contains("bad.idx"))
        }
        XCTAssertThrowsError(try IDXImport.read(path: "/nonexistent/x.idx.gz"))
    }

    func testMissingFolderClassListAndClassFolderAreErrors() throws {
        XCTAssertThrowsError(try ImageFolder(root: scratch.appendingPathComponent("nope"))) { error in
            XCTAssertTrue(String(describing: error).contains("nope: dataset folder not found"))
        }
        XCTAssertThrowsError(try ImageFolder(root: scratch)) { error in
            XCTAssertTrue(String(describing: error).contains("classes.txt"))
        }
        try "cats\ndogs\n".write(to: scratch.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("cats"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolder(root: scratch)) { error in
            XCTAssertTrue(String(describing: error).contains("folder for class 'dogs'"))
        }
    }
}
