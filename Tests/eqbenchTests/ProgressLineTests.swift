@testable import eqbench
@testable import EqHarness
import XCTest

final class ProgressLineTests: XCTestCase {
    let update = ProgressUpdate(model: "mobilenet_v3_large_imagenet", variant: "bnfold+relu6relu+cls+hbf+bc", precision: "w8a8-pc",
                                phase: "calibrate", imagesDone: 250, imagesTotal: 500, step: 3, steps: 21, stepsPerVariant: 3)

    /// The line never reaches the terminal's last column, whatever the width,
    /// and keeps the counts, rate and ETA as long as they fit.
    func testTheLineFitsTheTerminal() {
        for width in [40, 60, 80, 100, 200] {
            let line = ProgressLine.render(update, rate: 1234, secondsLeft: 267, width: width)
            XCTAssertLessThan(line.count, width, "width \(width): \(line)")
            if width >= 80 { XCTAssert(line.contains("250/500 1234 img/s ETA 4m27s"), line) }
        }
        XCTAssert(ProgressLine.render(update, rate: nil, secondsLeft: nil, width: 200).contains("████████████············ 250/500"))
    }

    /// No rate is shown before it was measured, no ETA before each precision of a variant has finished once.
    func testRateAndETAComeFromMeasuredWork() {
        let line = ProgressLine.render(update, rate: nil, secondsLeft: nil, width: 200)
        XCTAssertFalse(line.contains("img/s") || line.contains("ETA"), line)

        // Steps repeat fp32 (1 s), int8 (10 s), int8 (10 s) per variant.
        var estimate = RunTimeEstimate()
        estimate.note(step: 1, stepsPerVariant: 3, now: 0)
        estimate.note(step: 2, stepsPerVariant: 3, now: 1)
        XCTAssertNil(estimate.remaining(steps: 9, stepsPerVariant: 3, now: 5))
        estimate.note(step: 3, stepsPerVariant: 3, now: 11)
        XCTAssertNil(estimate.remaining(steps: 9, stepsPerVariant: 3, now: 15), "the third place has not finished yet")
        estimate.note(step: 4, stepsPerVariant: 3, now: 21)
        // At 21 s step 4 (fp32) starts: 1 s for it, then 10 + 10 + 1 + 10 + 10 for steps 5…9.
        XCTAssertEqual(estimate.remaining(steps: 9, stepsPerVariant: 3, now: 21)!, 42, accuracy: 1e-9)
        // Half a second into step 4, half a second of it is left.
        XCTAssertEqual(estimate.remaining(steps: 9, stepsPerVariant: 3, now: 21.5)!, 41.5, accuracy: 1e-9)
        // A step running over its mean adds nothing negative.
        XCTAssertEqual(estimate.remaining(steps: 9, stepsPerVariant: 3, now: 30)!, 41, accuracy: 1e-9)
    }
}
