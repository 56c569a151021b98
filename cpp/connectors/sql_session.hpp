// The seam between file-defined scenarios and SQL connectors: a session prepares the scenario's
// statements once when it opens, then executes them by index with bound values (never spliced into
// the SQL text), blocking (SQLite) or on an event loop (PostgreSQL). Errors come back as values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/async_workload.hpp"
#include "engine/outcome.hpp"

namespace loadbench {

enum class SqlType : std::uint8_t { null, integer, real, text };

// One bound parameter. Text is borrowed: it points into strings the scenario owns for the whole
// run and is NUL-terminated, so binding copies nothing.
struct SqlValue {
    SqlType type = SqlType::null;
    std::int64_t integer = 0;
    double real = 0;
    const char* text = nullptr;
    std::uint32_t size = 0;

    static SqlValue of(std::int64_t v) { return {SqlType::integer, v, 0, nullptr, 0}; }
    static SqlValue of_real(double v) { return {SqlType::real, 0, v, nullptr, 0}; }
    static SqlValue of_text(const std::string& s) {
        return {SqlType::text, 0, 0, s.c_str(), static_cast<std::uint32_t>(s.size())};
    }
    bool operator==(const SqlValue& o) const {
        if (type != o.type) return false;
        switch (type) {
            case SqlType::null: return true;
            case SqlType::integer: return integer == o.integer;
            case SqlType::real: return real == o.real;
            case SqlType::text: return std::string_view(text, size) == std::string_view(o.text, o.size);
        }
        return false;
    }
};

// What one statement came to. `rows`: rows changed by a write, rows returned by a query.
struct SqlReply {
    bool ok = true;
    ErrorKind error = ErrorKind::none;
    bool retryable = false;
    std::int64_t rows = 0;

    static SqlReply failed(ErrorKind kind, bool retryable) { return {false, kind, retryable, 0}; }
};

// Transaction control; what BEGIN means is the connector's choice (SQLite: BEGIN IMMEDIATE, so two
// writers never deadlock upgrading a read lock).
enum class SqlControl : std::uint8_t { begin, commit, rollback };

class SqlSession : public Interruptible {
public:
    // `statement` indexes the statements the session was opened with.
    virtual SqlReply execute(std::size_t statement, std::span<const SqlValue> values) = 0;
    virtual SqlReply control(SqlControl what) = 0;
    // The engine's attempt (the calls for one try of an operation) is over: an interrupt meant for
    // it must not reach the next one.
    virtual void attempt_ended() noexcept {}
    virtual std::string last_error() const { return {}; }
};

class SqlReplyCallback {
public:
    // Exactly once per call, on the session's io_context thread, never inside the call itself.
    virtual void sql_done(const SqlReply& reply) = 0;

protected:
    ~SqlReplyCallback() = default;
};

class AsyncSqlSession : public Interruptible {
public:
    // `values` must stay alive until `done` is called.
    virtual void execute(std::size_t statement, std::span<const SqlValue> values, SqlReplyCallback& done) = 0;
    virtual void control(SqlControl what, SqlReplyCallback& done) = 0;
    // As SqlSession::attempt_ended(); called before the attempt's outcome is reported.
    virtual void attempt_ended() noexcept {}
    virtual void shutdown() = 0;
    virtual std::string last_error() const { return {}; }
    virtual std::uint64_t reconnects() const { return 0; }
};

class AsyncSqlOpenCallback {
public:
    virtual void opened(std::unique_ptr<AsyncSqlSession> session) = 0;
    virtual void open_failed(std::string error) = 0;

protected:
    ~AsyncSqlOpenCallback() = default;
};

// The first piece of a scenario that the database refused in a check: script[index] (DDL) or
// statements[index], with the database's message.
struct SqlCheckFailure {
    bool in_script = false;
    std::size_t index = 0;
    std::string message;
};

using SqlRows = std::vector<std::vector<std::optional<std::string>>>;  // a query's rows as text; nullopt: NULL

}  // namespace loadbench
