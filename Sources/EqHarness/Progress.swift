import Foundation

/// Where a run is: which evaluation of how many, and how far through its
/// current phase (calibration, evaluation or per-layer analysis) in images.
public struct ProgressUpdate: Sendable {
    public var model: String
    public var variant: String
    public var precision: String
    public var phase: String
    public var imagesDone: Int
    public var imagesTotal: Int
    /// The evaluation (model × variant × precision) in progress, 1-based, of `steps`.
    public var step: Int
    public var steps: Int
    /// True while the next batch waits for its images to be decoded (decoding is the bottleneck).
    public var waitingForImages = false
}

/// The process's resident memory high-water mark (Linux /proc), resettable
/// so a pass's own peak can be read.
enum ProcessMemory {
    /// Resets VmHWM to the current RSS (writing 5 to /proc/self/clear_refs).
    static func resetPeak() {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
        try? handle.write(contentsOf: Data("5".utf8))
        try? handle.close()
    }

    /// VmHWM in MiB, nil where /proc is not available.
    static func peakMB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return nil }
        return kB / 1024
    }
}
