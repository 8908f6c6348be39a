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
    /// Precisions per variant: steps repeat with this period (an fp32 step
    /// costs far less than an int8 one, which calibrates and analyses too).
    public var stepsPerVariant = 1
}

/// The time a run has left, from the steps it has finished: each remaining
/// step is expected to take as long as the finished steps at the same place
/// in the variant's precision list took on average (mean of those), and the
/// step in progress what its place's mean has not yet used up. No estimate
/// until every place has been seen once, so an fp32 step never predicts an
/// int8 one.
public struct RunTimeEstimate: Sendable {
    private var seconds = [Int: (total: Double, count: Int)]()
    private var current: (step: Int, started: Double)?

    public init() {}

    /// Records that `step` (1-based) is in progress at time `now` (seconds);
    /// a new step closes the previous one.
    public mutating func note(step: Int, stepsPerVariant: Int, now: Double) {
        if let current, current.step != step {
            let place = (current.step - 1) % max(stepsPerVariant, 1)
            let old = seconds[place] ?? (0, 0)
            seconds[place] = (old.total + now - current.started, old.count + 1)
        }
        if current?.step != step { current = (step, now) }
    }

    /// Seconds left after `now` for a run of `steps` steps, nil until each place has a finished step.
    public func remaining(steps: Int, stepsPerVariant: Int, now: Double) -> Double? {
        guard let current else { return nil }
        let period = max(stepsPerVariant, 1)
        var mean = [Double]()
        for place in 0..<period {
            guard let s = seconds[place], s.count > 0 else { return nil }
            mean.append(s.total / Double(s.count))
        }
        let ongoing = max(mean[(current.step - 1) % period] - (now - current.started), 0)
        return ongoing + (current.step..<steps).map { mean[$0 % period] }.reduce(0, +)
    }
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
