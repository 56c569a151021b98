// The blocking driver: one thread per session, one operation at a time.
#include <chrono>
#include <functional>
#include <new>
#include <string>
#include <thread>

#include "engine/drivers.hpp"

namespace loadbench {
namespace {

void run_operations(SessionLoop& loop, WorkerSession& session, SessionState& s, WorkerMetrics& m) {
    if (loop.has_no_share(s)) return;
    const std::function<std::string()> last_error = [&session] { return session.last_error(); };
    loop.start_schedule(s);
    while (!loop.stopping()) {
        if (loop.open_loop()) {
            if (!loop.schedule_next(s, m)) break;
            loop.wait_until(s.intended_ns);
            if (!loop.before_window_end(s.intended_ns)) break;  // stop() closed the window meanwhile
        }
        if (!loop.begin_operation(s, session.plan(s.rng))) break;
        Attempt attempt = session.attempt();
        while (loop.should_retry(s, attempt)) {
            std::this_thread::sleep_for(std::chrono::nanoseconds(loop.backoff_ns(s)));
            loop.restart_deadline(s);
            attempt = session.attempt();
        }
        if (loop.finish_operation(s, m, attempt, last_error) == SessionLoop::After::stop) break;
    }
}

}  // namespace

void run_blocking_session(SessionLoop& loop, DriverHost& host, Workload& workload, std::size_t index) {
    // No private file table here (the monitor has one, see Run::monitor_main): it would spare the
    // kernel's reference counting on the session's descriptors (2-3 % of a one-session SQLite
    // run), but POSIX record locks belong to the file table, so SQLite's in-process lock sharing
    // would see its own threads as other processes (measured: "locking protocol" at verify).
    std::unique_ptr<WorkerSession> session;
    WorkerMetrics* m = nullptr;
    try {
        m = &host.make_metrics(index);
        session = workload.open_session(index);
    } catch (const std::bad_alloc&) {
        loop.session_open_failed("out of memory (ENOMEM) opening session " + std::to_string(index + 1));
        return;
    } catch (const std::exception& e) {
        loop.session_open_failed(e.what());
        return;
    }
    loop.set_interruptible(index, session.get());
    loop.session_opened();
    loop.wait_for_go();
    SessionState s = loop.new_session_state(index);
    if (!loop.stopping()) run_operations(loop, *session, s, *m);
    loop.close_session(s, *m, session->reconnects());
    loop.set_interruptible(index, nullptr);
}

}  // namespace loadbench
