import Foundation
import GRDB
import GRDBSQLite

/// One of the hot path's inserts (a job's row, a result's row) written many rows per
/// statement and bound straight through SQLite's C API: the store writer caps durable
/// dispatch, and GRDB's `StatementArguments` (an existential box and an allocation per
/// value) and SQLite's per-statement overhead cost it more than SQLite's own work
/// (docs/ARCHITECTURE.md, "Measured choices").
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
    private let bindRow: @Sendable (StatementBinder, Int32, Row) -> Void

    /// `head`: the statement up to `VALUES`, e.g. `INSERT INTO t (a, b)`.
    init(_ head: String, columns: Int, bind: @escaping @Sendable (StatementBinder, Int32, Row) -> Void) {
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
        let arena = BindArena()
        var refused: [Refusal] = []
        var start = 0
        while start < rows.count {
            let size = Self.chunkSizes.first { $0 <= rows.count - start }!
            let chunk = rows[start ..< start + size]
            start += size
            if let failure = try execute(chunk, in: db, arena: arena) {
                guard size > 1 else {
                    refused.append(Refusal(row: chunk.first!, message: failure))
                    continue
                }
                for index in chunk.indices {
                    if let message = try execute(chunk[index ... index], in: db, arena: arena) {
                        refused.append(Refusal(row: chunk[index], message: message))
                    }
                }
            }
        }
        return refused
    }

    /// Runs one statement over `rows`; returns SQLite's message when a constraint refused
    /// it (the statement then changed nothing) and throws on any other failure.
    private func execute(_ rows: ArraySlice<Row>, in db: Database, arena: BindArena) throws -> String? {
        let statement = try db.cachedStatement(sql: sqlBySize[rows.count]!).sqliteStatement
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            arena.reset()  // only now: the statement pointed into it until here
        }
        let binder = StatementBinder(statement: statement, arena: arena)
        var first: Int32 = 1
        // Rows borrowed in place: iterating copies each one, a retain and a release for
        // every reference it holds.
        rows.withUnsafeBufferPointer { buffer in
            for index in buffer.indices {
                bindRow(binder, first, buffer[index])
                first += columns
            }
        }
        let code = sqlite3_step(statement)
        if code == SQLITE_DONE { return nil }
        let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
        if code & 0xff == SQLITE_CONSTRAINT { return message }
        throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
    }
}

/// Binds one statement's values for the hot path. Text and blobs are copied once into an
/// arena that lives until the statement has run and its bindings are cleared, and bound
/// `SQLITE_STATIC`: with `SQLITE_TRANSIENT` SQLite made its own copy of each with a malloc
/// and a free, ten of them per job. An empty one is bound empty, never NULL.
struct StatementBinder {
    let statement: OpaquePointer
    let arena: BindArena

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(statement, index, value)
    }

    func bind(_ index: Int32, _ value: Double) {
        sqlite3_bind_double(statement, index, value)
    }

    func bind(_ index: Int32, _ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            let copy = arena.copy(UnsafeRawBufferPointer(utf8))
            _ = sqlite3_bind_text(statement, index, copy.assumingMemoryBound(to: CChar.self), Int32(utf8.count), nil)
        }
    }

    func bind(_ index: Int32, _ value: Data) {
        guard !value.isEmpty else {
            _ = sqlite3_bind_zeroblob(statement, index, 0)
            return
        }
        value.withUnsafeBytes { bytes in
            _ = sqlite3_bind_blob(statement, index, arena.copy(bytes), Int32(bytes.count), nil)
        }
    }
}

/// Bytes that must not move while a statement holds pointers to them: chunks that are
/// never reallocated, emptied by `reset()` once the statement's bindings are cleared.
/// Used by one thread at a time (one per `BatchInsert.insert` call).
final class BindArena {
    private static let chunkBytes = 1 << 16
    private var chunks: [UnsafeMutableRawPointer] = []
    /// Bytes used in the last chunk.
    private var used = 0
    /// Values larger than a chunk, each in a block of its own.
    private var large: [UnsafeMutableRawPointer] = []

    /// Where the copy of `bytes` lies; for no bytes, a valid address all the same (an
    /// empty text is bound empty, not NULL).
    func copy(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawPointer {
        if chunks.isEmpty { chunks.append(.allocate(byteCount: Self.chunkBytes, alignment: 1)) }
        guard let source = bytes.baseAddress, bytes.count > 0 else { return UnsafeRawPointer(chunks[chunks.count - 1] + used) }
        let target: UnsafeMutableRawPointer
        if bytes.count > Self.chunkBytes {
            target = .allocate(byteCount: bytes.count, alignment: 1)
            large.append(target)
        } else {
            if used + bytes.count > Self.chunkBytes {
                chunks.append(.allocate(byteCount: Self.chunkBytes, alignment: 1))
                used = 0
            }
            target = chunks[chunks.count - 1] + used
            used += bytes.count
        }
        target.copyMemory(from: source, byteCount: bytes.count)
        return UnsafeRawPointer(target)
    }

    /// Forgets every copy; call only after the statement's bindings are cleared. Keeps
    /// one chunk for the next statement.
    func reset() {
        for block in large { block.deallocate() }
        large.removeAll(keepingCapacity: true)
        for chunk in chunks.dropFirst() { chunk.deallocate() }
        if chunks.count > 1 { chunks.removeSubrange(1...) }
        used = 0
    }

    deinit {
        reset()
        chunks.first?.deallocate()
    }
}
