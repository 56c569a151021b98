// The seam between the engine and everything database-specific. A Workload (a scenario bound to a
// connector) opens one WorkerSession per worker; the engine asks the session to plan an operation
// (untimed), then to attempt it (timed, possibly several times), and never sees SQL or sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/outcome.hpp"
#include "sampling/rng.hpp"

namespace loadbench {

// The keys (e.g. account ids) an operation touches, for contention accounting, and which of the
// workload's operation types it is (for per-type statistics; 0 when the workload has one type).
struct OperationKeys {
    std::uint64_t keys[2] = {0, 0};
    std::uint8_t count = 0;
    std::uint8_t type = 0;
};

// What the watchdog needs of a session: a way to make the attempt in progress give up.
class Interruptible {
public:
    virtual ~Interruptible() = default;
    // Called from the monitor thread when the per-operation timeout expires, and from the run's
    // interrupter thread when the run stops: make the attempt in progress return soon. Must be
    // safe to call at any time; may do nothing. Must never block: no network (a cancel request
    // that has to reach the server goes to a thread of its own, e.g. BlockingCallPool), no lock
    // held across I/O. The monitor also keeps the clock, cuts the seconds and times out every
    // other session: one interrupt() that waits stops all of that. A session that still does
    // not return after a stop is abandoned.
    virtual void interrupt() noexcept {}
};

class WorkerSession : public Interruptible {
public:
    // Chooses the next operation with the worker's generator; not timed.
    virtual OperationKeys plan(Rng& rng) = 0;

    // Runs the planned operation once. Called again, unchanged, for a retry.
    virtual Attempt attempt() = 0;

    // A human-readable description of the last failed attempt (no secrets), for the report.
    virtual std::string last_error() const { return {}; }

    // How many times the session re-established a lost connection.
    virtual std::uint64_t reconnects() const { return 0; }
};

class Workload {
public:
    virtual ~Workload() = default;

    // Opens the session for one worker; throws std::runtime_error with a clear message on failure.
    // Called from the worker's own thread.
    virtual std::unique_ptr<WorkerSession> open_session(std::size_t worker_index) = 0;

    // Operation keys lie in [0, key_space()).
    virtual std::uint64_t key_space() const = 0;

    // Names of the operation types, indexed by OperationKeys::type, when there are several
    // (each gets its own counts and latency histogram); empty for a single type.
    virtual std::vector<std::string> operation_types() const { return {}; }
};

}  // namespace loadbench
