import EqGraph
@testable import EqRuntime
import EqTensor
import XCTest

/// The statistics service: ranges by hand, one executor per graph state, a
/// changed graph never served from the cache.
final class StatisticsServiceTests: XCTestCase {
    func graph(slope: Float) -> Graph {
        Graph(name: "g", input: GraphInput(name: "x", shape: [2, 1, 2]), nodes: [
            Node(name: "scale", op: .binaryConstant(.mul, constant: Tensor(shape: [2, 1, 1], data: [slope, -1]), constantFirst: false),
                 inputs: ["x"], output: "y"),
            Node(name: "relu", op: .activation(.relu), inputs: ["y"], output: "z"),
        ], outputs: ["z"])
    }

    func testChannelRangesByHandAndPerGraphState() throws {
        // Two batches of one image each: channel 0 = [1, 3] then [-2, 0.5]; channel 1 = [4, -1] then [2, 2].
        let batches = [Tensor(shape: [1, 2, 1, 2], data: [1, 3, 4, -1]), Tensor(shape: [1, 2, 1, 2], data: [-2, 0.5, 2, 2])]
        let service = StatisticsService(batches: batches, threads: 1)
        var seen = [(Int, Int)]()
        service.progress = { seen.append(($0, $1)) }
        let doubled = graph(slope: 2)
        let ranges = try service.channelRanges(of: ["y", "z"], in: doubled)
        XCTAssertEqual(ranges["y"], .init(min: [-4, -4], max: [6, 1]))
        XCTAssertEqual(ranges["z"], .init(min: [0, 0], max: [6, 1]))
        XCTAssertEqual(seen.map(\.0), [1, 2])
        XCTAssertEqual(service.imageCount, 2)

        // The same graph state: the executor is reused and the ranges are not run again.
        let executor = try service.executor(for: doubled)
        XCTAssertTrue(try service.executor(for: doubled) === executor)
        seen = []
        XCTAssertEqual(try service.channelRanges(of: ["y"], in: doubled)["y"], ranges["y"])
        XCTAssertTrue(seen.isEmpty, "cached ranges ran the graph again")

        // A changed graph is a new state.
        let tripled = graph(slope: 3)
        XCTAssertFalse(try service.executor(for: tripled) === executor)
        XCTAssertEqual(try service.channelRanges(of: ["y"], in: tripled)["y"], .init(min: [-6, -4], max: [9, 1]))

        XCTAssertThrowsError(try StatisticsService(batches: [], threads: 1).channelRanges(of: ["y"], in: doubled)) { error in
            XCTAssertEqual(error as? ExecutorError, .noImages(graph: "g"))
        }
    }

    /// A batch too large to tap at once runs in parts: the same images in
    /// order, the last part of each batch flagged, the same channel ranges.
    func testBatchesWhoseTapsExceedTheBudgetRunInParts() throws {
        let batches = [Tensor(shape: [3, 2, 1, 2], data: (0..<12).map { Float($0) - 5 }),
                       Tensor(shape: [2, 2, 1, 2], data: (0..<8).map { 3 - Float($0) })]
        let whole = StatisticsService(batches: batches, threads: 1)
        let parted = StatisticsService(batches: batches, threads: 1)
        parted.maxTapBytes = 2 * 4 * MemoryLayout<Float>.size   // two images of "y" and "z" (4 floats each)
        var parts = [(images: Int, ends: Bool)]()
        try parted.forEachPart(of: graph(slope: 2), taps: ["y", "z"]) { result, ends in
            parts.append((result.taps["y"]!.shape[0], ends))
        }
        XCTAssertEqual(parts.map(\.images), [1, 1, 1, 1, 1])
        parts = []
        parted.maxTapBytes = 4 * 4 * MemoryLayout<Float>.size
        try parted.forEachPart(of: graph(slope: 2), taps: ["y", "z"]) { result, ends in
            parts.append((result.taps["y"]!.shape[0], ends))
        }
        XCTAssertEqual(parts.map(\.images), [2, 1, 2])
        XCTAssertEqual(parts.map(\.ends), [false, true, true])
        XCTAssertEqual(try parted.channelRanges(of: ["y", "z"], in: graph(slope: 2)),
                       try whole.channelRanges(of: ["y", "z"], in: graph(slope: 2)))
    }

    /// The same taps in another order reuse the compiled plan and its arenas
    /// (a Set's order differs between instances; each order used to compile anew).
    func testTapOrderDoesNotCompileAnotherPlan() throws {
        let executor = try Executor(graph: graph(slope: 2), threads: 1)
        let input = Tensor(shape: [1, 2, 1, 2], data: [1, 2, 3, 4])
        let first = try executor.run(input, taps: ["y", "z"])
        let second = try executor.run(input, taps: ["z", "y", "z"])
        XCTAssertEqual(first.taps["y"], second.taps["y"])
        XCTAssertEqual(first.taps["z"], second.taps["z"])
        XCTAssertEqual(executor.compiledPlanCount, 1)
    }
}
