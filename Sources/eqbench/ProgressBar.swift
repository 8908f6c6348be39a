import EqHarness
import Foundation

/// A one-line progress bar on standard error, redrawn in place at most ten
/// times a second: evaluation k of n, model, variant, precision, phase, a
/// bar over the phase's images, their rate and the run's time left
/// (`RunTimeEstimate`), and "waiting for decoding" while image decoding holds
/// the run back. Fitted to the terminal's width, so it never wraps. Only used
/// when stderr is a terminal; otherwise the run prints plain log lines.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var phase: (key: String, started: Date, imagesAtStart: Int)?
    private var estimate = RunTimeEstimate()
    private var drawn = false

    /// A bar when standard error is a terminal, nil otherwise.
    static func forStandardError() -> ProgressBar? {
        isatty(STDERR_FILENO) == 1 ? ProgressBar() : nil
    }

    func update(_ p: ProgressUpdate) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        let clock = now.timeIntervalSince(started)
        estimate.note(step: p.step, stepsPerVariant: p.stepsPerVariant, now: clock)
        let key = "\(p.step)|\(p.phase)"
        // The phase's rate is measured from its first update on, so the batch
        // that finished before that update does not count as done in no time.
        if phase?.key != key { phase = (key, now, p.imagesDone) }
        guard now.timeIntervalSince(lastDraw) >= 0.1 || p.imagesDone == p.imagesTotal else { return }
        lastDraw = now
        let measured = now.timeIntervalSince(phase!.started)
        let rate = measured >= 0.5 ? Double(p.imagesDone - phase!.imagesAtStart) / measured : nil
        let eta = estimate.remaining(steps: p.steps, stepsPerVariant: p.stepsPerVariant, now: clock)
        let line = ProgressLine.render(p, rate: rate, secondsLeft: eta, width: Self.terminalColumns())
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drawn = true
    }

    /// Erases the bar so a log line can be printed on a clean line.
    func clear() {
        lock.lock(); defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); drawn = false }
    }

    /// Standard error's terminal width (80 when it cannot be read).
    static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}

/// The text of one progress line, at most `width − 1` characters (a line
/// that fills the last column wraps on some terminals): the bar narrows
/// first, then goes, then the names are shortened.
enum ProgressLine {
    static func render(_ p: ProgressUpdate, rate: Double?, secondsLeft: Double?, width: Int) -> String {
        let limit = max(width - 1, 20)
        let fraction = p.imagesTotal > 0 ? Double(p.imagesDone) / Double(p.imagesTotal) : 0
        let tail = " \(p.imagesDone)/\(p.imagesTotal)" + (rate.map { String(format: " %.0f img/s", $0) } ?? "")
            + (secondsLeft.map { " ETA " + duration($0) } ?? "") + (p.waitingForImages ? " (waiting for decoding)" : "")
        let head = "[\(p.step)/\(p.steps)] \(p.model) \(p.variant) \(p.precision) \(p.phase)"
        for barWidth in [24, 16, 8] {
            let line = head + " " + bar(fraction, barWidth) + tail
            if line.count <= limit { return line }
        }
        let line = head + tail
        if line.count <= limit { return line }
        // Shorten the names (the model and variant can be long), keeping the counts.
        let room = limit - tail.count - 1
        return room > 0 ? String(head.prefix(room)) + "…" + tail : String(line.prefix(limit))
    }

    static func bar(_ fraction: Double, _ width: Int) -> String {
        let filled = min(max(Int(fraction * Double(width)), 0), width)
        return String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
