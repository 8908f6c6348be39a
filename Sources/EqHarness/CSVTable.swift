import Foundation

/// An RFC 4180 CSV table: one header row, comma separated, fields quoted when
/// they hold a comma, quote or line break. Lines end in LF, which awk, cut
/// and spreadsheets all read (RFC 4180's CRLF leaves `\r` in the last field
/// for line-based tools); `parse` accepts either. Written to a
/// temporary file in the same folder and renamed, so a reader never sees half
/// a table.
///
/// A text field that a spreadsheet would run as a formula (starting with
/// =, +, −, @, tab or CR, and not a number) is written with a leading `'`,
/// which spreadsheets show as text (OWASP's CSV-injection advice); so is a
/// field that starts with `'` itself. `parse` removes that one `'` again, so
/// tables read back (merge, compare) hold what was measured.
public struct CSVTable: Equatable, Sendable {
    public var columns: [String]
    public var rows: [[String]]

    public init(columns: [String], rows: [[String]] = []) {
        self.columns = columns
        self.rows = rows
    }

    public mutating func append(_ row: [String]) {
        precondition(row.count == columns.count, "row has \(row.count) fields for \(columns.count) columns")
        rows.append(row)
    }

    static func escape(_ field: String) -> String {
        var field = field
        if let first = field.first, "=+-@\t\r'".contains(first), first == "'" || Double(field) == nil { field = "'" + field }
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public var text: String {
        ([columns] + rows).map { $0.map(CSVTable.escape).joined(separator: ",") + "\n" }.joined()
    }

    public func write(to url: URL) throws {
        try AtomicFile.write(Data(text.utf8), to: url)
    }

    /// Parses RFC 4180 text (quoted fields, doubled quotes, CRLF or LF).
    public static func parse(_ text: String) throws -> CSVTable {
        var records = [[String]]()
        var field = "", record = [String]()
        var quoted = false, afterQuote = false
        var iterator = text.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; afterQuote = true; pending = next }
                    } else { quoted = false }
                } else { field.append(c) }
                continue
            }
            switch c {
            case "\"" where field.isEmpty && !afterQuote: quoted = true
            case ",": record.append(field); field = ""; afterQuote = false
            case "\r\n", "\n", "\r":
                record.append(field); records.append(record)
                field = ""; record = []; afterQuote = false
            default: field.append(c)
            }
        }
        if quoted { throw HarnessError("unterminated quoted CSV field") }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        guard let header = records.first else { throw HarnessError("empty CSV file") }
        for (i, r) in records.enumerated().dropFirst() where r.count != header.count {
            throw HarnessError("CSV row \(i + 1) has \(r.count) fields, the header has \(header.count)")
        }
        let unguarded = records.map { $0.map { $0.hasPrefix("'") ? String($0.dropFirst()) : $0 } }
        return CSVTable(columns: unguarded[0], rows: Array(unguarded.dropFirst()))
    }
}

/// Whole-file writes that never leave a partial file behind.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: temporary)
            // rename(2) replaces the destination atomically.
            guard rename(temporary.path, url.path) == 0 else {
                throw HarnessError(String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw HarnessError("\(url.path): cannot write: \(error.localizedDescription)")
        }
    }
}
