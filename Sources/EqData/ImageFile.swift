import Foundation

/// An image file of a dataset, PNG or JPEG, told apart by its content (a
/// `.png` that holds JPEG bytes, common in scraped folders, decodes as JPEG).
public enum ImageFile {
    /// The file-name extensions a dataset folder's images may have, in any letter case.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// True when `name` ends in one of `extensions`.
    public static func hasImageExtension(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        return extensions.contains(name[name.index(after: dot)...].lowercased())
    }

    /// Decodes the PNG or JPEG file at `path`.
    public static func decode(path: String) throws -> DecodedImage {
        let data = try contents(of: path)
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNGCodec.decode(data: data, path: path) }
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { return try JPEGCodec.decode(data: data, path: path) }
        throw DatasetError.corruptImage(path: path, reason: "neither a PNG nor a JPEG (its first bytes are not either signature)")
    }

    /// The bytes of the file at `path`, or an error saying why there are none.
    static func contents(of path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileManager.default.fileExists(atPath: path)
                ? DatasetError.unreadable(path: path, reason: "permission denied or not a regular file")
                : DatasetError.missing(path: path, what: "image file")
        }
        return data
    }
}
