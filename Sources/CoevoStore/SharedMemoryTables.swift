import CoevoCore
import Foundation
import GRDB

/// A discovery pool's shared memory: the attempts (the git bundle that carries each
/// commit stays in the result of the step that made it), the notes and the versioned
/// skills. Rows are written by the store writer in the batch of the result that produced
/// them; their keys make a replayed row a no-op.
enum SharedMemoryTables {
    static func create(in db: GRDB.Database) throws {
        try db.execute(sql: """
            CREATE TABLE attempts (
                run_id TEXT NOT NULL,
                key TEXT NOT NULL,            -- the step's key, r<round>.step.<agent>
                round INTEGER NOT NULL,
                agent TEXT NOT NULL,
                commit_sha TEXT NOT NULL,
                parent_sha TEXT,
                score REAL,                   -- NULL: the grader crashed or timed out
                status TEXT NOT NULL,         -- improved | baseline | regressed | crashed | timeout
                pool_best INTEGER NOT NULL,
                feedback TEXT NOT NULL,
                message TEXT NOT NULL,
                bundle BLOB,                  -- git bundle parent..commit
                PRIMARY KEY (run_id, key)
            );
            CREATE TABLE notes (
                run_id TEXT NOT NULL,
                key TEXT NOT NULL,
                agent TEXT NOT NULL,
                round INTEGER NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (run_id, key)
            );
            CREATE TABLE skills (
                run_id TEXT NOT NULL,
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                description TEXT NOT NULL,
                body TEXT NOT NULL,
                agent TEXT NOT NULL,
                round INTEGER NOT NULL,
                PRIMARY KEY (run_id, name, version)
            );
            """)
    }

    static func insert(_ record: MemoryRecord, run: String, in db: GRDB.Database) throws {
        switch record {
        case .attempt(let a):
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO attempts (run_id, key, round, agent, commit_sha, parent_sha, score, status, pool_best, feedback, message)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [run, a.key, a.round, a.agent, a.commit, a.parent, a.score, a.status.rawValue, a.poolBest,
                                         a.feedback, a.message])
        case .note(let n):
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO notes (run_id, key, agent, round, body) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [run, n.key, n.agent, n.round, n.body])
        case .skill(let k):
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO skills (run_id, name, version, description, body, agent, round) VALUES (?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [run, k.name, k.version, k.description, k.body, k.agent, k.round])
        }
    }
}

extension CoevoStore {
    /// A run's attempts in the order they were graded.
    public func attempts(ofRun run: String) throws -> [Attempt] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE run_id = ? ORDER BY round, key", arguments: [run]).map { row in
                Attempt(key: row["key"], round: row["round"], agent: row["agent"], commit: row["commit_sha"],
                        parent: row["parent_sha"], score: row["score"],
                        status: Attempt.Status(rawValue: row["status"]) ?? .crashed, poolBest: row["pool_best"],
                        feedback: row["feedback"], message: row["message"])
            }
        }
    }

    public func notes(ofRun run: String) throws -> [Note] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM notes WHERE run_id = ? ORDER BY round, key", arguments: [run]).map { row in
                Note(key: row["key"], agent: row["agent"], round: row["round"], body: row["body"])
            }
        }
    }

    /// Every version of every skill, by name then version.
    public func skills(ofRun run: String) throws -> [Skill] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM skills WHERE run_id = ? ORDER BY name, version", arguments: [run]).map { row in
                Skill(name: row["name"], version: row["version"], description: row["description"], body: row["body"],
                      agent: row["agent"], round: row["round"])
            }
        }
    }
}
