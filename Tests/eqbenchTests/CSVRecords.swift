import EqHarness

extension CSVTable {
    /// Rows as column → field dictionaries: how these tests read the CSVs a
    /// run wrote, as a user's script would.
    var records: [[String: String]] { rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) } }
}
