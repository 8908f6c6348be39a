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
        let long = try writeIDX("long.idx", dims: [2], bytes: [1, 2, 3])
        XCTAssertThrowsError(try IDXImport.read(path: long)) { error in
            XCTAssertTrue(String(describing: error).contains("more than 2 bytes, its header promises 2"), "\(error)")
        }
        // A header promising 2^32 bytes is refused before anything is read.
        let huge = try writeIDX("huge.idx", dims: [65536, 65536], bytes: [])
        XCTAssertThrowsError(try IDXImport.read(path: huge)) { error in
            XCTAssertTrue(String(describing: error).contains("promise more than"), "\(error)")
        }
        // Devices and FIFOs are refused before reading: /dev/zero never ends.
        XCTAssertThrowsError(try IDXImport.read(path: "/dev/zero")) { error in
            XCTAssertTrue(String(describing: error).contains("not a regular file"), "\(error)")
        }
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

    /// classes.txt names folders of its split: a line that leads out of it
    /// (`../calib/Bag`) or names a class twice is an error naming the entry.
    func testClassListCannotLeaveItsSplitOrRepeatAClass() throws {
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("test/Bag"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("calib/Bag"), withIntermediateDirectories: true)
        let list = scratch.appendingPathComponent("test/classes.txt")
        try "Bag\n../calib/Bag\n".write(to: list, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ImageFolder(root: scratch.appendingPathComponent("test"))) { error in
            XCTAssertTrue(String(describing: error).contains("entry 2 '../calib/Bag' is not a folder name of this split"), "\(error)")
        }
        try "Bag\n..\n".write(to: list, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ImageFolder(root: scratch.appendingPathComponent("test")))
        // A folder the list leaves out is reported, not read.
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("test/Coat"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rgb.jpg"),
                                         to: scratch.appendingPathComponent("test/Bag/1.jpg"))
        try "Bag\n".write(to: list, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ImageFolder(root: scratch.appendingPathComponent("test")).unlistedFolders, ["Coat"])
        try "Bag\nBag\n".write(to: list, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ImageFolder(root: scratch.appendingPathComponent("test"))) { error in
            XCTAssertTrue(String(describing: error).contains("class 'Bag' is listed twice (entries 1 and 2)"), "\(error)")
        }
    }

    /// A folder mixing PNG and JPEG in any letter case, with a stray file.
    func mixedFolder() throws -> ImageFolder {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        try "a\nb\n".write(to: scratch.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
        for name in ["a", "b"] { try FileManager.default.createDirectory(at: scratch.appendingPathComponent(name), withIntermediateDirectories: true) }
        for (source, target) in [("rgb8.png", "a/1.PNG"), ("rgb.jpg", "a/2.JpG"), ("gray.JPEG", "b/3.jpeg"), ("cmyk.jpg", "b/4.jpg")] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(source), to: scratch.appendingPathComponent(target))
        }
        try "not an image".write(to: scratch.appendingPathComponent("b/notes.txt"), atomically: true, encoding: .utf8)
        return try ImageFolder(root: scratch)
    }

    /// Without classes.txt the class folders, sorted by code point as Python
    /// sorts them, are the labels (torchvision's ImageFolder; ImageNet's val/).
    func testWithoutAClassListSortedSubfoldersAreTheClasses() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        for name in ["n02", "B", "a", "n01"] {
            try FileManager.default.createDirectory(at: scratch.appendingPathComponent(name), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent("rgb.jpg"),
                                             to: scratch.appendingPathComponent("\(name)/x.JPEG"))
        }
        let folder = try ImageFolder(root: scratch)
        XCTAssertEqual(folder.classes, ["B", "a", "n01", "n02"])
        XCTAssertEqual(folder.items.map(\.relativePath), ["B/x.JPEG", "a/x.JPEG", "n01/x.JPEG", "n02/x.JPEG"])
    }

    func testFoldersMixPNGAndJPEGInAnyCaseAndListWhatTheySkip() throws {
        let folder = try mixedFolder()
        XCTAssertEqual(folder.items.map(\.relativePath), ["a/1.PNG", "a/2.JpG", "b/3.jpeg", "b/4.jpg"])
        XCTAssertEqual(folder.skipped, ["b/notes.txt"])
        XCTAssertEqual(folder.prefix(2).items.map(\.label), [0, 0])
        XCTAssertEqual(folder.subset(2..<4).items.map(\.label), [1, 1])
    }

    /// The decoded-image cache gives what preprocessing each image alone gives,
    /// in order, whatever the thread count and batch boundaries.
    func testPreparedImagesMatchPerImagePreprocessing() throws {
        let folder = try mixedFolder()
        let geometry = try Preprocessing(channels: 3, height: 5, width: 5, mean: [0.5], std: [0.25], resize: 6)
        var expected = [Float]()
        for item in folder.items {
            var out = [Float](repeating: 0, count: geometry.count)
            let image = try ImageFile.decode(path: folder.path(of: item))
            out.withUnsafeMutableBufferPointer { geometry.apply(image, into: $0.baseAddress!) }
            expected += out
        }
        for threads in [1, 3] {
            let prepared = try PreparedImages(folder, geometry: geometry, threads: threads)
            XCTAssertEqual(prepared.labels, [0, 0, 1, 1])
            let whole = try prepared.batch(0..<4, preprocessing: geometry)
            XCTAssertEqual(whole.shape, [4, 3, 5, 5])
            XCTAssertEqual(whole.data, expected)
            let tail = try prepared.batch(1..<3, preprocessing: geometry)
            XCTAssertEqual(tail.data, Array(expected[geometry.count..<(3 * geometry.count)]))
            XCTAssertTrue(prepared.isDecoded(0..<4))
        }
    }

    func testACorruptImageStopsPreparationNamingTheFirstBadFile() throws {
        let folder = try mixedFolder()
        try Data([0xFF, 0xD8, 0xFF, 0, 1, 2]).write(to: scratch.appendingPathComponent("b/3.jpeg"))
        let geometry = try Preprocessing(channels: 1, height: 4, width: 4)
        // Decoding races the reads: whichever thread decodes what, the answers are the same.
        for _ in 0..<20 {
            let prepared = try PreparedImages(folder, geometry: geometry, threads: 2)
            // Images before the bad one still read; a batch holding it, or waiting for all, throws its error.
            XCTAssertEqual(try prepared.batch(0..<2, preprocessing: geometry).shape, [2, 1, 4, 4])
            for attempt in [{ try prepared.waitUntilDecoded() }, { _ = try prepared.batch(2..<4, preprocessing: geometry) }] {
                XCTAssertThrowsError(try attempt()) { error in
                    XCTAssertTrue(String(describing: error).contains("b/3.jpeg: corrupt or unsupported image"), "\(error)")
                }
            }
        }
    }
}
