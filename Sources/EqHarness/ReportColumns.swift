import EqPasses
import Foundation

/// One column of a report table: its CSV name, how a record's field is
/// written, and how it is read back. A table's header, its rows and the
/// records `merge`, `compare` and the report rebuild from a written CSV all
/// come from the same list (`ReportRecord.schema`), so they cannot drift
/// apart; the formats are the report files' contract (docs/ARCHITECTURE.md).
///
/// Reading is lenient where it must be and strict where it can be: an empty
/// field (a column newer than the report, or a value that does not apply)
/// keeps the record's default, while a field that does not parse as its
/// column's type is an error naming the column.
public struct ReportColumn<Record> {
    public let name: String
    /// True when the column holds numbers: summary.json writes them as JSON
    /// numbers (null when empty), every other column as text.
    public let isNumber: Bool
    let text: (Record) -> String
    /// Sets the field from non-empty text; nil for columns that repeat or
    /// derive from another one (the other column reads it).
    let read: ((inout Record, String) throws -> Void)?

    public init(_ name: String, number: Bool = false, _ text: @escaping (Record) -> String,
                read: ((inout Record, String) throws -> Void)? = nil) {
        self.name = name
        self.isNumber = number
        self.text = text
        self.read = read
    }

    /// A text field, written as it is.
    public static func text(_ name: String, _ field: WritableKeyPath<Record, String>) -> Self {
        Self(name, { $0[keyPath: field] }, read: { $0[keyPath: field] = $1 })
    }

    /// An integer field.
    public static func integer(_ name: String, _ field: WritableKeyPath<Record, Int>) -> Self {
        Self(name, number: true, { String($0[keyPath: field]) }, read: { $0[keyPath: field] = try parseInteger($1) })
    }

    /// An integer field, empty when absent.
    public static func integer(_ name: String, _ field: WritableKeyPath<Record, Int?>) -> Self {
        Self(name, number: true, { $0[keyPath: field].map(String.init) ?? "" }, read: { $0[keyPath: field] = try parseInteger($1) })
    }

    /// A number with `digits` decimals, empty when absent.
    public static func fixed(_ name: String, _ field: WritableKeyPath<Record, Double?>, _ digits: Int) -> Self {
        Self(name, number: true, { EqHarness.fixed($0[keyPath: field], digits) }, read: { $0[keyPath: field] = try parseNumber($1) })
    }

    /// A number with `digits` decimals.
    public static func fixed(_ name: String, _ field: WritableKeyPath<Record, Double>, _ digits: Int) -> Self {
        Self(name, number: true, { EqHarness.fixed($0[keyPath: field], digits) }, read: { $0[keyPath: field] = try parseNumber($1) })
    }

    /// A number in scientific notation with three decimals, empty when absent.
    public static func scientific(_ name: String, _ field: WritableKeyPath<Record, Double?>) -> Self {
        Self(name, number: true, { EqHarness.scientific($0[keyPath: field]) }, read: { $0[keyPath: field] = try parseNumber($1) })
    }

    /// A number with `digits` significant digits, empty when absent.
    public static func significant(_ name: String, _ field: WritableKeyPath<Record, Double?>, _ digits: Int) -> Self {
        Self(name, number: true, { $0[keyPath: field].map { String(format: "%.\(digits)g", $0) } ?? "" },
             read: { $0[keyPath: field] = try parseNumber($1) })
    }

    /// A closed set of words (a `String` raw-value enum).
    public static func word<Word: RawRepresentable>(_ name: String, _ field: WritableKeyPath<Record, Word>) -> Self
    where Word.RawValue == String {
        Self(name, { $0[keyPath: field].rawValue }, read: { record, text in
            guard let word = Word(rawValue: text) else { throw ColumnError("'\(text)' is not one of the values this column takes") }
            record[keyPath: field] = word
        })
    }

    /// The same column written from other fields and never read back: its
    /// value is recomputed (or read under another name).
    public static func derived(_ name: String, number: Bool = false, _ text: @escaping (Record) -> String) -> Self {
        Self(name, number: number, text)
    }
}

/// A field that does not parse as its column's type.
struct ColumnError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// An integer field, or an error naming the text.
func parseInteger(_ text: String) throws -> Int {
    guard let value = Int(text) else { throw ColumnError("'\(text)' is not an integer") }
    return value
}

/// A decimal field ("inf" and "-inf" included), or an error naming the text.
func parseNumber(_ text: String) throws -> Double {
    guard let value = Double(text), !value.isNaN else { throw ColumnError("'\(text)' is not a number") }
    return value
}

/// A row type of a report table, described by one column list.
public protocol ReportRecord {
    static var schema: [ReportColumn<Self>] { get }
}

/// A report table that `eqbench merge`, `compare` and the report rebuild
/// from its CSV: records start from `init()` and each column sets its field.
protocol ReadableReportRecord: ReportRecord {
    init()
    /// How many leading columns every report has: the table's columns in
    /// eqbench 0.1 (DESIGN.md); later ones may be absent from older reports.
    static var requiredColumns: Int { get }
}

extension ReportRecord {
    /// The table's header.
    public static var columns: [String] { schema.map(\.name) }
    /// The columns that hold numbers.
    public static var numberColumns: Set<String> { Set(schema.filter(\.isNumber).map(\.name)) }
    /// The row's fields, in column order.
    public var fields: [String] { Self.schema.map { $0.text(self) } }
    /// The records as a CSV table.
    public static func table(_ records: [Self]) -> CSVTable { CSVTable(columns: columns, rows: records.map(\.fields)) }

    /// The row as a JSON object: number columns as numbers (null when empty;
    /// text such as "inf" stays text), the others as text.
    var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: zip(Self.schema, fields).map { column, field -> (String, JSONValue) in
            guard column.isNumber else { return (column.name, .string(field)) }
            if field.isEmpty { return (column.name, .null) }
            if let number = Double(field), number.isFinite { return (column.name, .number(number)) }
            return (column.name, .string(field))
        }))
    }
}

extension ReadableReportRecord {
    /// The records of a table read from `file`. Columns are matched by name:
    /// a report of an earlier eqbench lacks the newer columns (their fields
    /// keep their defaults), one of a later eqbench may have columns this one
    /// ignores. `required` names the columns that must be there: by default
    /// the table's columns in eqbench 0.1.
    static func records(_ table: CSVTable, file: String, required: [String]? = nil) throws -> [Self] {
        let schema = Self.schema
        let missing = (required ?? Array(columns.prefix(requiredColumns))).filter { !table.columns.contains($0) }
        guard missing.isEmpty else {
            throw HarnessError("\(file): missing column\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))")
        }
        guard Set(table.columns).count == table.columns.count else { throw HarnessError("\(file): a column name repeats") }
        let readers = table.columns.map { name in schema.first { $0.name == name }?.read }
        return try table.rows.enumerated().map { line, row in
            var record = Self()
            for (k, field) in row.enumerated() where !field.isEmpty {
                do { try readers[k]?(&record, field) } catch let error as ColumnError {
                    throw HarnessError("\(file): row \(line + 2), column \(table.columns[k]): \(error.message)")
                }
            }
            return record
        }
    }
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
