import EqHarness
import Foundation

/// A one-line progress bar on standard error, redrawn in place at most ten
/// times a second: evaluation k of n, model, variant, precision, phase, a
/// bar over the phase's images, their rate and an ETA for the whole run
/// (from the time per finished evaluation), and "waiting for decoding" while
/// image decoding holds the run back. Only used when stderr is a
/// terminal; otherwise the run prints plain log lines.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private let started = Date()
    private var phaseStarted = Date()
    private var lastDraw = Date.distantPast
    private var lastKey = ""
    private var drawn = false

    /// A bar when standard error is a terminal, nil otherwise.
    static func forStandardError() -> ProgressBar? {
        isatty(STDERR_FILENO) == 1 ? ProgressBar() : nil
    }

    func update(_ p: ProgressUpdate) {
        lock.lock(); defer { lock.unlock() }
        let key = "\(p.step)|\(p.phase)"
        if key != lastKey { lastKey = key; phaseStarted = Date() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 || p.imagesDone == p.imagesTotal else { return }
        lastDraw = now
        let width = 24
        let fraction = p.imagesTotal > 0 ? Double(p.imagesDone) / Double(p.imagesTotal) : 0
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let rate = Double(p.imagesDone) / max(now.timeIntervalSince(phaseStarted), 1e-3)
        let elapsed = now.timeIntervalSince(started)
        let finished = Double(p.step - 1) + fraction * 0.5
        let eta = finished > 0 ? elapsed / finished * (Double(p.steps) - finished) : nil
        let line = "[\(p.step)/\(p.steps)] \(p.model) \(p.variant) \(p.precision) \(p.phase) \(bar) \(p.imagesDone)/\(p.imagesTotal)"
            + String(format: " %.0f img/s", rate) + (eta.map { " ETA " + Self.duration($0) } ?? "")
            + (p.waitingForImages ? " (waiting for decoding)" : "")
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drawn = true
    }

    /// Erases the bar so a log line can be printed on a clean line.
    func clear() {
        lock.lock(); defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); drawn = false }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
