@testable import EqPasses
import EqGraph
import XCTest

/// One validator for `--variants`, `--config` and `--search`: requirements
/// met by an earlier pass, results no later pass undoes.
final class PipelineValidatorTests: XCTestCase {
    func problem(_ pipeline: String) throws -> String? {
        PipelineValidator.problem(in: try pipeline.split(separator: "+").map { try PassCatalog.make(String($0), context: "test") })
    }

    func testRequirementsAndResults() throws {
        XCTAssertNil(try problem("relu6relu+bnfold+cls+hbf+bc"))
        XCTAssertNil(try problem("bnfold+smoothquant+cls+hbf"), "hbf reads statistics every pass keeps current")
        XCTAssertNil(try problem("bnfold+hbf"), "hbf finds its own pairs; it needs no cls")
        XCTAssertEqual(try problem("cls+hbf"), "hbf needs folded batch-norm statistics (bnfold) from an earlier pass")
        XCTAssertEqual(try problem("bnfold+bc+cls"),
                       "cls after bc would leave a bias correction (bc, bca) wrong: bc must come after every pass that changes weights or activations")
        XCTAssertNotNil(try problem("bnfold+bc+bc"), "a second correction would correct twice")
        XCTAssertNil(try problem("bnfold+bc+bnfold"), "folding batch norms changes neither weights' rounding nor activations")
    }

    func testEveryEntryPointUsesIt() throws {
        XCTAssertNoThrow(try Variant.resolve("cls+hbf"), "the variant cls starts with bnfold")
        XCTAssertThrowsError(try Variant.resolve("relu6relu+hbf")) { error in
            XCTAssertEqual((error as? PassError)?.message,
                           "variant 'relu6relu+hbf': hbf needs folded batch-norm statistics (bnfold) from an earlier pass")
        }
        XCTAssertThrowsError(try Variant.resolve("dfq+bc+smoothquant"))
        for variant in Variant.all { XCTAssertNil(PipelineValidator.problem(in: variant.passes), variant.name) }
        let config = """
        {"variants": [{"name": "late", "passes": ["bnfold", "bc", "cls"]}]}
        """
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("validator-\(UUID().uuidString).json")
        try config.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try VariantConfig.load(url)) { error in
            XCTAssertTrue("\(error)".contains("variant 'late': cls after bc"), "\(error)")
        }
    }

    /// Names and numbers that trapped the parser are errors naming the variant or parameter.
    func testMalformedNamesAndNumbersAreErrors() {
        for name in ["baseline+", "+bnfold", "dfq++bc", "fixedpoint@inf", "fixedpoint@1e300", "fixedpoint@-3", "chaneq@1e40", "smoothquant@"] {
            XCTAssertThrowsError(try Variant.resolve(name), name) { error in
                XCTAssertTrue(error is PassError, "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try PassCatalog.make("cls", parameters: ["max_iterations": .number(1e300)], context: "c")) { error in
            XCTAssertEqual((error as? PassError)?.message, "c: parameter max_iterations must be an integer from 1 to 10⁹, got 1e+300")
        }
    }

    func testNodeIDsSurviveInsertionAndNamesStayUnique() {
        var graph = Graph(name: "g", input: GraphInput(name: "x", shape: [2]), nodes: [
            Node(name: "a", op: .activation(.relu), inputs: ["x"], output: "a"),
            Node(name: "b", op: .activation(.relu), inputs: ["a"], output: "b"),
        ], outputs: ["b"])
        let (a, b) = (graph.nodes[0].id, graph.nodes[1].id)
        XCTAssertNotEqual(a, b)
        let name = graph.uniqueName("a")
        XCTAssertEqual(name, "a.2")
        let inserted = graph.insert(Node(name: name, op: .activation(.relu), inputs: ["a"], output: name), before: b)
        graph[b].inputs = [name]
        XCTAssertEqual(graph.nodes.map(\.id), [a, inserted, b])
        XCTAssertEqual(graph[b].name, "b", "the id still names b after the insertion moved it")
        graph.nodes.remove(at: 1)
        let again = graph.insert(Node(name: "c", op: .activation(.relu), inputs: ["a"], output: "c"), before: b)
        XCTAssertNotEqual(again, inserted, "ids are never reused")
    }
}
