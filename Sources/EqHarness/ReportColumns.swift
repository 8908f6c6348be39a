import Foundation

/// One column of a report table: its CSV name and how a record's field is
/// written. A table's header and every row come from the same list
/// (`ReportRecord.schema`), so the two cannot drift apart; the formats are
/// the report files' contract (docs/ARCHITECTURE.md).
public struct ReportColumn<Record> {
    public let name: String
    /// True when the column holds numbers: summary.json writes them as JSON
    /// numbers (null when empty), every other column as text.
    public let isNumber: Bool
    let text: (Record) -> String

    public init(_ name: String, number: Bool = false, _ text: @escaping (Record) -> String) {
        self.name = name
        self.isNumber = number
        self.text = text
    }

    /// A text field, written as it is.
    public static func text(_ name: String, _ field: KeyPath<Record, String>) -> Self {
        Self(name) { $0[keyPath: field] }
    }

    /// An integer field.
    public static func integer(_ name: String, _ field: KeyPath<Record, Int>) -> Self {
        Self(name, number: true) { String($0[keyPath: field]) }
    }

    /// A number with `digits` decimals, empty when absent.
    public static func fixed(_ name: String, _ field: KeyPath<Record, Double?>, _ digits: Int) -> Self {
        Self(name, number: true) { EqHarness.fixed($0[keyPath: field], digits) }
    }

    /// A number in scientific notation with three decimals, empty when absent.
    public static func scientific(_ name: String, _ field: KeyPath<Record, Double?>) -> Self {
        Self(name, number: true) { EqHarness.scientific($0[keyPath: field]) }
    }
}

/// A row type of a report table, described by one column list.
public protocol ReportRecord {
    static var schema: [ReportColumn<Self>] { get }
}

extension ReportRecord {
    /// The table's header.
    public static var columns: [String] { schema.map(\.name) }
    /// The columns that hold numbers.
    public static var numberColumns: Set<String> { Set(schema.filter(\.isNumber).map(\.name)) }
    /// The row's fields, in column order.
    public var fields: [String] { Self.schema.map { $0.text(self) } }
}

/// Fixed-point text with `digits` decimals ("" for nil), locale-independent.
func fixed(_ value: Double?, _ digits: Int) -> String {
    guard let value else { return "" }
    return String(format: "%.\(digits)f", value)
}

/// Scientific text with 3 significant decimals ("" for nil).
func scientific(_ value: Double?) -> String {
    guard let value else { return "" }
    return String(format: "%.3e", value)
}

/// A difference in points with its sign, two decimals: "+1.25", "-0.40",
/// "±0.00" (never "-0.00").
func signedPoints(_ value: Double) -> String {
    let magnitude = fixed(abs(value), 2)
    return (magnitude == "0.00" ? "±" : value > 0 ? "+" : "-") + magnitude
}
