import ArgumentParser
import EqPasses
import EqRuntime
import Foundation

/// The variants of a `--config` file, none without one.
func loadVariants(_ config: String?) throws -> [Variant] {
    guard let config else { return [] }
    do { return try VariantConfig.load(URL(fileURLWithPath: config)) } catch let error as PassError {
        throw ValidationError("--config: \(error.message)")
    }
}

/// `--engine` as an `Engine`, with an error that lists the valid names.
func parseEngine(_ text: String) throws -> Engine {
    guard let engine = Engine(rawValue: text) else {
        throw ValidationError("--engine must be \(Engine.allCases.map(\.rawValue).joined(separator: " or ")), got '\(text)'")
    }
    return engine
}

/// Parses a comma-separated list of numbers for a flag, with an error that
/// names the flag and the bad item.
func parseFloats(_ text: String, flag: String) throws -> [Float] {
    try text.split(separator: ",").map { item in
        guard let value = Float(item.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw ValidationError("\(flag): '\(item)' is not a number (give one value, or one per channel separated by commas)")
        }
        return value
    }
}

/// Splits a comma-separated list of names, dropping empty items.
func parseNames(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}
