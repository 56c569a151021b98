// What a session costs beyond the engine's structures, per connector family, for the resource
// check before a run (Connector::footprint). Sizes come from the libraries themselves where they
// can tell: SQLite counts the bytes it allocates.
#include <sqlite3.h>

#include <vector>

#include "connectors/pg_connection.hpp"
#include "connectors/postgres_connector.hpp"
#include "connectors/sqlite_connector.hpp"

namespace loadbench {

// One connection on an in-memory database, set up as a session's is: SQLite's own count of what
// it allocated (the connection, its lookaside slots, the schema, prepared statements, the page
// cache's first bulk allocation, which a file's pages land in just the same). Descriptors: the
// database file and, in WAL mode, its -wal file (or, in rollback mode, the journal while a write
// transaction is open); the -shm file is one per process.
SessionFootprint SqliteConnector::footprint() const {
    const sqlite3_int64 before = sqlite3_memory_used();
    sqlite3* db = nullptr;
    std::size_t bytes = 256 * 1024;  // should SQLite fail to open one: a measured session's order
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) ==
        SQLITE_OK) {
        sqlite3_exec(db, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
                         "INSERT INTO accounts VALUES (1, 1000), (2, 1000);", nullptr, nullptr, nullptr);
        const char* statements[] = {"BEGIN IMMEDIATE",
                                    "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1",
                                    "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2", "COMMIT", "ROLLBACK"};
        std::vector<sqlite3_stmt*> prepared;
        for (const char* sql : statements) {
            sqlite3_stmt* stmt = nullptr;
            if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) == SQLITE_OK) prepared.push_back(stmt);
        }
        const sqlite3_int64 used = sqlite3_memory_used() - before;
        if (used > 0) bytes = static_cast<std::size_t>(used);
        for (sqlite3_stmt* stmt : prepared) sqlite3_finalize(stmt);
    }
    sqlite3_close_v2(db);
    return {bytes, 2};
}

// libpq keeps a 16 KiB input and a 16 KiB output buffer per connection (makeEmptyPGconn), beside
// the PGconn itself (a few KiB); PgConnection and the sessions sharing it are the rest. Two
// descriptors: libpq's socket and the duplicate FdReadiness watches.
SessionFootprint PostgresConnector::footprint() const {
    constexpr std::size_t kLibpqBuffers = 2 * 16 * 1024, kPgConn = 4 * 1024;
    return {kLibpqBuffers + kPgConn + sizeof(PgConnection), 2};
}

}  // namespace loadbench
