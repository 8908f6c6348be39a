import Foundation

/// Paths inside the repository, found from this source file's location so the
/// tests run from any working directory.
enum RepositoryPaths {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = root.appendingPathComponent("Datasets/models")
    static let testSplit = root.appendingPathComponent("Datasets/fashion-mnist/test")
    static let fixtures = root.appendingPathComponent("Tests/EqRuntimeTests/Fixtures")
}
