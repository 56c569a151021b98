// The two drivers, both on the session loop (engine/session_loop.hpp): a blocking session on a
// thread of its own, or an event-loop thread driving its share of the sessions. Neither knows the
// run beyond the session loop and DriverHost.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <memory>

#include "engine/async_workload.hpp"
#include "engine/session_loop.hpp"
#include "engine/worker_metrics.hpp"
#include "engine/workload.hpp"

namespace loadbench {

// What a driver thread gets from the run.
class DriverHost {
public:
    // This thread's metrics, allocated on it (a failure counts as a failed open); throws bad_alloc.
    virtual WorkerMetrics& make_metrics(std::size_t thread) = 0;
    // The monitor stopped the event loops (work was left in them).
    virtual bool loops_stopped() const = 0;
    // An event-loop thread's sessions, left with work pending in a loop the run stopped: kept
    // until the run goes, which drops them before the loops themselves.
    virtual void park(std::shared_ptr<void> sessions) = 0;

protected:
    ~DriverHost() = default;
};

// blocking_driver.cpp: opens session `index`, waits for the go, runs its operations until the
// session loop says stop, closes it.
void run_blocking_session(SessionLoop& loop, DriverHost& host, Workload& workload, std::size_t index);

// async_driver.cpp: event-loop thread `thread` of `threads`: opens its share of the connection
// groups (at most `open_parallelism` in all at once), then runs them until each one closes.
void run_event_loop_thread(SessionLoop& loop, DriverHost& host, AsyncWorkload& workload, asio::io_context& io,
                           std::size_t thread, std::size_t threads, std::size_t concurrency,
                           std::size_t open_parallelism);
// The driver's own bytes per event-loop session (the resource estimate).
std::size_t event_loop_session_bytes();

}  // namespace loadbench
