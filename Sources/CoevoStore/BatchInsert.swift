import Foundation
import GRDB
import GRDBSQLite

/// One of the hot path's inserts (a job's row, a result's row) written many rows per
/// statement and bound straight through SQLite's C API. `coevo bench dispatch` found the
/// store writer to be what capped durable dispatch, and a third of its time went to
/// GRDB's `StatementArguments` (an existential box and an allocation per value) and to
/// SQLite's per-statement overhead, not to SQLite's own work.
struct BatchInsert<Row>: Sendable {
    /// A row the table refused (a constraint), with SQLite's message.
    struct Refusal {
        var row: Row
        var message: String
    }

    /// Rows per statement, largest first: a batch of n rows takes about n / 64 statements.
    static var chunkSizes: [Int] { [64, 16, 4, 1] }

    private let sqlBySize: [Int: String]
    private let columns: Int32
    /// Binds one row's values to parameters `first ..< first + columns`.
    private let bindRow: @Sendable (OpaquePointer, Int32, Row) -> Void

    /// `head`: the statement up to `VALUES`, e.g. `INSERT INTO t (a, b)`.
    init(_ head: String, columns: Int, bind: @escaping @Sendable (OpaquePointer, Int32, Row) -> Void) {
        let tuple = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
        var sql: [Int: String] = [:]
        for size in Self.chunkSizes {
            sql[size] = head + " VALUES " + Array(repeating: tuple, count: size).joined(separator: ",")
        }
        self.sqlBySize = sql
        self.columns = Int32(columns)
        self.bindRow = bind
    }

    /// Inserts `rows` in order. A chunk that breaks a constraint is written again row by
    /// row, so only the offending rows are refused and returned; any other failure throws
    /// (the caller's transaction then fails as a whole).
    func insert(_ rows: [Row], in db: Database) throws -> [Refusal] {
        var refused: [Refusal] = []
        var start = 0
        while start < rows.count {
            let size = Self.chunkSizes.first { $0 <= rows.count - start }!
            let chunk = rows[start ..< start + size]
            start += size
            if let failure = try execute(chunk, in: db) {
                guard size > 1 else {
                    refused.append(Refusal(row: chunk.first!, message: failure))
                    continue
                }
                for row in chunk {
                    if let message = try execute(CollectionOfOne(row), in: db) {
                        refused.append(Refusal(row: row, message: message))
                    }
                }
            }
        }
        return refused
    }

    /// Runs one statement over `rows`; returns SQLite's message when a constraint refused
    /// it (the statement then changed nothing) and throws on any other failure.
    private func execute(_ rows: some Collection<Row>, in db: Database) throws -> String? {
        let statement = try db.cachedStatement(sql: sqlBySize[rows.count]!).sqliteStatement
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        var first: Int32 = 1
        for row in rows {
            bindRow(statement, first, row)
            first += columns
        }
        let code = sqlite3_step(statement)
        if code == SQLITE_DONE { return nil }
        let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
        if code & 0xff == SQLITE_CONSTRAINT { return message }
        throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
    }
}

/// `sqlite3_bind_*` for the value types the hot path writes. Text and blobs are copied by
/// SQLite (`SQLITE_TRANSIENT`); an empty one is bound empty, never NULL.
enum SQLiteBind {
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    static func bind(_ statement: OpaquePointer, _ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(statement, index, value)
    }

    static func bind(_ statement: OpaquePointer, _ index: Int32, _ value: Double) {
        sqlite3_bind_double(statement, index, value)
    }

    static func bind(_ statement: OpaquePointer, _ index: Int32, _ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            if let base = utf8.baseAddress, utf8.count > 0 {
                base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                    _ = sqlite3_bind_text(statement, index, $0, Int32(utf8.count), transient)
                }
            } else {
                _ = sqlite3_bind_text(statement, index, "", 0, transient)
            }
        }
    }

    static func bind(_ statement: OpaquePointer, _ index: Int32, _ value: Data) {
        value.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress, bytes.count > 0 {
                _ = sqlite3_bind_blob(statement, index, base, Int32(bytes.count), transient)
            } else {
                _ = sqlite3_bind_zeroblob(statement, index, 0)
            }
        }
    }
}
