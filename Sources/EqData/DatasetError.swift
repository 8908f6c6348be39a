/// A problem with a dataset or image file; every case names the path.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case missing(path: String, what: String)
    case unreadable(path: String, reason: String)
    case corruptImage(path: String, reason: String)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missing(path, what): return "\(path): \(what) not found"
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .corruptImage(path, reason): return "\(path): corrupt or unsupported image: \(reason)"
        case let .invalid(path, reason): return "\(path): \(reason)"
        }
    }
}
