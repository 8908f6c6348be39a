import ArgumentParser

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
