// What one attempt at an operation came to, as a connector reports it to the engine.
// Errors are values here: the engine counts them, retries the retryable ones, and never throws
// on the hot path.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace loadbench {

enum class Outcome : std::uint8_t {
    committed,  // the operation's work is durable (as durable as the connector's settings make it)
    rejected,   // refused by a business rule (e.g. insufficient balance): a complete, correct answer
    failed,     // an error; see ErrorKind
};

enum class ErrorKind : std::uint8_t {
    none,
    busy,           // lock not available now (SQLite BUSY/LOCKED, HTTP 429/503)
    serialization,  // the database aborted the transaction to keep it serializable (SQLSTATE 40001)
    deadlock,       // SQLSTATE 40P01
    constraint,     // a constraint or integrity violation
    connection,     // the session lost its connection
    timeout,        // the per-operation timeout expired
    protocol,       // the server answered something the connector does not understand
    other,
    // Begun in the measured window and not complete when the run stopped waiting for it (the drain
    // after the window ran out, or the run was interrupted): its result is unknown.
    unfinished,
    count_,         // number of kinds; not a kind
};

inline constexpr std::size_t kErrorKinds = static_cast<std::size_t>(ErrorKind::count_);

constexpr std::string_view error_kind_name(ErrorKind kind) {
    constexpr std::array<std::string_view, kErrorKinds> names = {
        "none", "busy", "serialization", "deadlock", "constraint", "connection", "timeout", "protocol", "other", "unfinished"};
    return names[static_cast<std::size_t>(kind)];
}

struct Attempt {
    Outcome outcome = Outcome::committed;
    ErrorKind error = ErrorKind::none;
    bool retryable = false;  // trying the same operation again may succeed

    static Attempt committed() { return {}; }
    static Attempt rejected() { return {Outcome::rejected, ErrorKind::none, false}; }
    static Attempt failed(ErrorKind kind, bool retryable = false) { return {Outcome::failed, kind, retryable}; }
};

}  // namespace loadbench
