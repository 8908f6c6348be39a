import EqTensor
import Foundation

/// An image-classification split stored as a folder: `classes.txt` (one class
/// name per line; line index = label; without it, the subfolders sorted by
/// name, as torchvision's ImageFolder) and one subfolder per class holding PNG
/// and JPEG files (`.png`, `.jpg`, `.jpeg` in any letter case). Other files
/// are listed in `skipped`, for the run to warn about, never dropped unsaid.
///
/// Order: all images sorted by file name, then by label, so that files named by
/// their index in the source dataset (as `eqbench dataset import-idx` writes
/// them) keep the source order, classes interleaved; the first N images of a
/// split are then a fair sample, and every run sees the same order.
public struct ImageFolder: Sendable {
    public struct Item: Equatable, Sendable {
        /// Path relative to the folder, e.g. `Coat/00012.png`.
        public var relativePath: String
        public var label: Int
    }

    public let root: URL
    public let classes: [String]
    public private(set) var items: [Item]
    /// Files in class folders that are not images by their extension (relative paths, sorted).
    public let skipped: [String]
    /// Subfolders that classes.txt does not list, whose images are not used (sorted).
    public let unlistedFolders: [String]

    /// Reads the folder's class list and file listing.
    public init(root: URL) throws {
        self.root = root
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError.missing(path: root.path, what: "dataset folder")
        }
        let classes = try Self.classNames(root)
        let listed = Set(classes)
        unlistedFolders = Self.subfolders(root).filter { !listed.contains($0) }.sorted()
        var items = [Item]()
        var skipped = [String]()
        for (label, name) in classes.enumerated() {
            let folder = root.appendingPathComponent(name)
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
                throw DatasetError.missing(path: folder.path, what: "folder for class '\(name)' (line \(label + 1) of classes.txt)")
            }
            for file in files {
                if ImageFile.hasImageExtension(file) {
                    items.append(Item(relativePath: name + "/" + file, label: label))
                } else {
                    skipped.append(name + "/" + file)
                }
            }
        }
        guard !items.isEmpty else {
            throw DatasetError.invalid(path: root.path, reason: "no .png, .jpg or .jpeg images in any class folder")
        }
        self.skipped = skipped.sorted()
        // Sort by (file name, label), with the names computed once.
        let keyed = items.map { (name: String($0.relativePath.split(separator: "/").last ?? ""), item: $0) }
        self.items = keyed.sorted { $0.name != $1.name ? $0.name < $1.name : $0.item.label < $1.item.label }.map(\.item)
        self.classes = classes
    }

    public var count: Int { items.count }

    /// The names of the folders directly inside `root` (symbolic links to folders included).
    static func subfolders(_ root: URL) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return entries.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
    }

    /// The lines of `classes.txt`, or without it the subfolders sorted by
    /// name, as torchvision's `ImageFolder` labels them (an ImageNet `val/`
    /// of WordNet-id folders reads as is).
    static func classNames(_ root: URL) throws -> [String] {
        let listURL = root.appendingPathComponent("classes.txt")
        guard FileManager.default.fileExists(atPath: listURL.path) else {
            let folders = subfolders(root)
            guard !folders.isEmpty else {
                throw DatasetError.missing(path: listURL.path, what: "class list (one class name per line) or class subfolders")
            }
            return folders.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
        }
        guard let text = try? String(contentsOf: listURL, encoding: .utf8) else {
            throw DatasetError.unreadable(path: listURL.path, reason: "not a UTF-8 text file")
        }
        let classes = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !classes.isEmpty else { throw DatasetError.invalid(path: listURL.path, reason: "the class list is empty") }
        // A class is a folder of this split: one path component, never a way out of it.
        if let (line, name) = classes.enumerated().first(where: { $0.element.contains("/") || $0.element == ".." || $0.element == "." }) {
            throw DatasetError.invalid(path: listURL.path, reason: "entry \(line + 1) '\(name)' is not a folder name of this split (no '/', '.' or '..')")
        }
        if let duplicate = classes.enumerated().first(where: { classes[..<$0.offset].contains($0.element) }) {
            throw DatasetError.invalid(path: listURL.path, reason: "class '\(duplicate.element)' is listed twice (entries \(classes.firstIndex(of: duplicate.element)! + 1) and \(duplicate.offset + 1))")
        }
        return classes
    }

    /// The same folder with only `items[range]`.
    public func subset(_ range: Range<Int>) -> ImageFolder {
        var copy = self
        copy.items = Array(items[range])
        return copy
    }

    /// The same folder with only its first `n` items (all when there are fewer).
    public func prefix(_ n: Int) -> ImageFolder { subset(0..<min(max(n, 0), count)) }

    /// The absolute path of an item.
    public func path(of item: Item) -> String { root.appendingPathComponent(item.relativePath).path }

    /// Decodes and preprocesses `items[range]` into an NCHW batch.
    public func batch(_ range: Range<Int>, preprocessing: Preprocessing) throws -> (images: Tensor, labels: [Int]) {
        var data = [Float](repeating: 0, count: range.count * preprocessing.count)
        try data.withUnsafeMutableBufferPointer { buffer in
            for (offset, index) in range.enumerated() {
                let image = try ImageFile.decode(path: path(of: items[index]))
                preprocessing.apply(image, into: buffer.baseAddress! + offset * preprocessing.count)
            }
        }
        let shape = [range.count, preprocessing.channels, preprocessing.height, preprocessing.width]
        return (Tensor(shape: shape, data: data), range.map { items[$0].label })
    }
}
