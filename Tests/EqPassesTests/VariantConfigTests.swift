@testable import EqPasses
import Foundation
import XCTest

/// Combined variant names and `--config` files.
final class VariantConfigTests: XCTestCase {
    func testCombinedNamesJoinPassesWithoutRepeatingTheFold() throws {
        XCTAssertEqual(try Variant.resolve("bnfold+chaneq").passNames, ["bnfold", "chaneq"])
        XCTAssertEqual(try Variant.resolve("chaneq").passNames, ["bnfold", "chaneq"])
        let mixed = try Variant.resolve("dfq+smoothquant@0.5")
        XCTAssertEqual(mixed.passNames, ["relu6relu", "bnfold", "cls", "hbf", "smoothquant"])
        XCTAssertEqual((mixed.passes.last as? SmoothQuant)?.alpha, 0.5)
        XCTAssertFalse(mixed.preservesFloatFunction, "relu6relu changes the float function")
        // A variant as a later part appends its passes, minus a second bnfold.
        XCTAssertEqual(try Variant.resolve("cls+iwe").passNames, ["bnfold", "cls", "iwe"])
        XCTAssertEqual(try Variant.resolve("smoothquant@0.25").passNames, ["bnfold", "smoothquant"])
        XCTAssertEqual(((try Variant.resolve("bnfold+fixedpoint@4")).passes.last as? FixedPointWeights)?.weights?.bits, 4)
        XCTAssertEqual(try Variant.resolve("dfq+bc").passNames, ["relu6relu", "bnfold", "cls", "hbf", "bc"])
    }

    func testUnknownPartsAndBadValuesAreErrorsThatListTheValidNames() {
        XCTAssertThrowsError(try Variant.resolve("dfq+magic")) { error in
            let message = (error as! PassError).message
            XCTAssertTrue(message.contains("'magic' in 'dfq+magic'"), message)
            XCTAssertTrue(message.contains("passes to join with +: " + PassCatalog.names.joined(separator: ", ")), message)
            XCTAssertTrue(message.contains("smoothquant@ALPHA, wclip@K, fixedpoint@WEIGHT_BITS"), message)
        }
        XCTAssertThrowsError(try Variant.resolve("bnfold+smoothquant@2")) { error in
            XCTAssertTrue((error as! PassError).message.contains("alpha must be in (0, 1]"))
        }
        XCTAssertThrowsError(try Variant.resolve("bnfold+iwe@3")) { error in
            XCTAssertTrue((error as! PassError).message.contains("iwe takes no @ value"))
        }
    }

    func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-config-\(UUID().uuidString).json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testAConfigFileNamesPipelinesWithParameters() throws {
        let url = try write("""
            {"variants": [
              {"name": "dfq-manual", "summary": "two chosen pairs",
               "passes": ["relu6relu", "bnfold", {"pass": "cls", "relu6": "perChannel", "max_iterations": 3,
                                                   "sets": [["conv1", "conv2"]]}, "hbf"]},
              {"name": "mine", "passes": ["dfq-manual", {"pass": "chaneq", "scale_max": 8}, "fixedpoint@6"]}
            ]}
            """)
        defer { try? FileManager.default.removeItem(at: url) }
        let variants = try VariantConfig.load(url)
        XCTAssertEqual(variants.map(\.name), ["dfq-manual", "mine"])
        XCTAssertEqual(variants[0].summary, "two chosen pairs")
        let cls = try XCTUnwrap(variants[0].passes[2] as? CrossLayerScaling)
        XCTAssertEqual(cls.relu6, .perChannel)
        XCTAssertEqual(cls.maxIterations, 3)
        XCTAssertEqual(cls.manualSets, [["conv1", "conv2"]])
        XCTAssertEqual(variants[1].passNames, ["relu6relu", "bnfold", "cls", "hbf", "chaneq", "fixedpoint"])
        XCTAssertEqual((variants[1].passes[4] as? ChannelEqualization)?.scaleBounds, 1...8)
        // Custom names resolve, alone and combined.
        XCTAssertEqual(try Variant.resolve("mine+bc", custom: variants).passNames.last, "bc")
    }

    func testConfigErrorsNameTheFileVariantAndKey() throws {
        let cases: [(String, String)] = [
            (#"{"variants": [{"name": "a", "passes": ["bnfold", "warp"]}]}"#, "unknown pass 'warp'; valid passes: relu6relu, bnfold"),
            (#"{"variants": [{"name": "a", "passes": [{"pass": "cls", "iterations": 3}]}]}"#,
             "unknown parameter 'iterations' of pass cls; valid: relu6, max_iterations"),
            (#"{"variants": [{"name": "a", "passes": [{"pass": "iwe", "alpha": 3}]}]}"#, "iwe; it takes none"),
            (#"{"variants": [{"name": "a", "passes": [{"pass": "smoothquant", "alpha": "high"}]}]}"#, "alpha must be a number"),
            (#"{"variants": [{"name": "a", "passes": [{"pass": "cls", "relu6": "clip"}]}]}"#, "valid: skip, perChannel"),
            (#"{"variants": [{"name": "dfq", "passes": []}]}"#, "'dfq' is already taken"),
            (#"{"variants": [{"name": "a", "pases": []}]}"#, "unknown key 'pases'"),
            (#"{"pipelines": []}"#, "unknown key 'pipelines'; valid: variants, float_layers"),
            ("{not json", "not valid JSON"),
        ]
        for (text, expected) in cases {
            let url = try write(text)
            defer { try? FileManager.default.removeItem(at: url) }
            XCTAssertThrowsError(try VariantConfig.load(url), text) { error in
                let message = (error as! PassError).message
                XCTAssertTrue(message.hasPrefix(url.path), message)
                XCTAssertTrue(message.contains(expected), "\(message) lacks \(expected)")
            }
        }
    }
}
