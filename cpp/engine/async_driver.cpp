// The event-loop driver: each thread owns one io_context and the sessions of its share of the
// connection groups. Phase 1 opens them (at most open_parallelism at once across the run) and
// returns when every open has completed; after the monitor's go, phase 2 runs every session's
// closed loop until the window closes. Same bookkeeping as the blocking driver (the session loop).
// The monitor may stop a loop (opening called off, or sessions that would not stop): the thread
// then returns at once, and what was left in flight is kept (DriverHost::park) until the Run goes.
//
// A phase ends when its sessions say so, not when the io_context runs out of work: a work guard
// is held while an open is in progress (phase 1) and while a session is running (phase 2). An
// open or an attempt may complete from outside the loop (a thread of the connector's, a call
// pool): without the guard, io.run() would return while it is on its way, the thread would drop
// the drivers, and the completion would land on freed memory.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

#include "engine/drivers.hpp"

namespace loadbench {
namespace {

struct ThreadContext;

class SessionDriver final : public AttemptCallback, public SessionOpenCallback {
public:
    SessionDriver(SessionLoop& loop, ThreadContext& ctx, WorkerMetrics& metrics, std::size_t index);

    void open();
    void start();
    void shutdown_unstarted() {
        if (session_) {
            loop_.set_interruptible(state_.index, nullptr);
            session_->shutdown();
        }
    }
    bool has_session() const { return session_ != nullptr; }

    void opened(std::unique_ptr<AsyncSession> session) override;
    void open_failed(std::string error) override;
    void attempt_done(Attempt attempt) override;

private:
    void next();
    void begin();
    void finish();

    SessionLoop& loop_;
    ThreadContext& ctx_;
    WorkerMetrics& metrics_;
    SessionState state_;
    std::unique_ptr<AsyncSession> session_;
    asio::steady_timer timer_;  // the next intended start, or the backoff before a retry
    std::function<std::string()> last_error_;
};

struct ThreadContext {
    using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

    asio::io_context& io;
    AsyncWorkload& workload;
    std::vector<std::unique_ptr<SessionDriver>> drivers;
    std::size_t next_to_open = 0;
    std::size_t opening = 0;
    std::size_t budget = 1;
    bool closing = false;  // opening was called off: a session that opens now closes at once
    std::optional<WorkGuard> opens_guard;  // phase 1: until every open has completed
    std::size_t running = 0;               // phase 2: sessions started and not yet finished
    std::optional<WorkGuard> running_guard;

    ThreadContext(asio::io_context& io, AsyncWorkload& w) : io(io), workload(w) {}

    // Keeps up to `budget` opens in progress until every session was asked to open.
    void open_more() {
        while (opening < budget && next_to_open < drivers.size() && !closing) {
            ++opening;
            drivers[next_to_open++]->open();
        }
        if (opening == 0) opens_guard.reset();
    }
    void one_open_completed() {
        --opening;
        open_more();
    }
    void session_finished() {
        if (--running == 0) running_guard.reset();
    }
};

SessionDriver::SessionDriver(SessionLoop& loop, ThreadContext& ctx, WorkerMetrics& metrics, std::size_t index)
    : loop_(loop), ctx_(ctx), metrics_(metrics), state_(loop.new_session_state(index)), timer_(ctx.io) {
    last_error_ = [this] { return session_ ? session_->last_error() : std::string(); };
}

void SessionDriver::open() { ctx_.workload.open_session(ctx_.io, state_.index, *this); }

void SessionDriver::opened(std::unique_ptr<AsyncSession> session) {
    session_ = std::move(session);
    if (ctx_.closing) {
        session_->shutdown();
        return ctx_.one_open_completed();
    }
    loop_.set_interruptible(state_.index, session_.get());
    loop_.session_opened();
    ctx_.one_open_completed();
}

void SessionDriver::open_failed(std::string error) {
    if (!ctx_.closing) loop_.session_open_failed(error);
    ctx_.one_open_completed();
}

void SessionDriver::start() {
    if (loop_.has_no_share(state_)) return finish();
    loop_.start_schedule(state_);
    next();
}

void SessionDriver::next() {
    if (loop_.stopping()) return finish();
    if (loop_.open_loop()) {
        if (!loop_.schedule_next(state_, metrics_)) return finish();
        const std::int64_t wait = state_.intended_ns - now_ns();
        if (wait > 0) {  // not yet: the timer resumes this session on schedule
            timer_.expires_after(std::chrono::nanoseconds(wait));
            timer_.async_wait([this](const boost::system::error_code&) { begin(); });
            return;
        }
    }
    begin();
}

void SessionDriver::begin() {
    if (loop_.open_loop() && !loop_.before_window_end(state_.intended_ns)) return finish();
    if (!loop_.begin_operation(state_, session_->plan(state_.rng))) return finish();
    session_->attempt(*this);
}

void SessionDriver::attempt_done(Attempt attempt) {
    if (loop_.should_retry(state_, attempt)) {
        timer_.expires_after(std::chrono::nanoseconds(loop_.backoff_ns(state_)));
        timer_.async_wait([this](const boost::system::error_code&) {
            loop_.restart_deadline(state_);
            session_->attempt(*this);
        });
        return;
    }
    if (loop_.finish_operation(state_, metrics_, attempt, last_error_) == SessionLoop::After::stop) return finish();
    next();
}

// The session's counts first (a thread may block in set_interruptible while an interrupt for
// this session is delivered: it must not hold counts the monitor waits for), then the close.
void SessionDriver::finish() {
    loop_.close_session(state_, metrics_, session_->reconnects());
    loop_.set_interruptible(state_.index, nullptr);
    session_->shutdown();
    ctx_.session_finished();
}

// Sessions that opened after opening was called off get this long to close.
constexpr std::chrono::milliseconds kCloseGrace{100};

}  // namespace

std::size_t event_loop_session_bytes() { return sizeof(SessionDriver) + sizeof(std::unique_ptr<SessionDriver>); }

void run_event_loop_thread(SessionLoop& loop, DriverHost& host, AsyncWorkload& workload, asio::io_context& io,
                           std::size_t thread, std::size_t threads, std::size_t concurrency,
                           std::size_t open_parallelism) {
    const std::size_t group = workload.sessions_per_group();
    std::vector<std::size_t> mine;
    for (std::size_t first = thread * group; first < concurrency; first += threads * group)
        for (std::size_t i = first; i < first + group; ++i) mine.push_back(i);
    std::unique_ptr<ThreadContext> ctx;
    WorkerMetrics* metrics = nullptr;
    try {
        metrics = &host.make_metrics(thread);
        ctx = std::make_unique<ThreadContext>(io, workload);
        for (std::size_t i : mine) ctx->drivers.push_back(std::make_unique<SessionDriver>(loop, *ctx, *metrics, i));
    } catch (const std::bad_alloc&) {
        loop.sessions_open_failed(mine.size(), "out of memory (ENOMEM) setting up event-loop thread " +
                                                   std::to_string(thread + 1));
        loop.wait_for_go();
        return;
    }
    ctx->budget = std::max<std::size_t>(1, open_parallelism / threads);

    // Phase 1: open this thread's sessions; run() returns once every open has completed (or
    // when the monitor stops the loop: opening was called off).
    ctx->opens_guard.emplace(io.get_executor());
    ctx->open_more();
    io.run();

    loop.wait_for_go();
    if (loop.stopping()) {
        // Called off while opening: close what opened; opens still in progress are given up on.
        ctx->closing = true;
        for (auto& d : ctx->drivers) d->shutdown_unstarted();
        io.restart();
        io.run_for(kCloseGrace);
        if (host.loops_stopped() || !io.stopped()) host.park(std::shared_ptr<ThreadContext>(std::move(ctx)));
        return;
    }
    // Phase 2: every session's closed loop, until each one closes (or the monitor stops the loop).
    io.restart();
    ctx->running_guard.emplace(io.get_executor());
    for (auto& d : ctx->drivers)
        if (d->has_session()) {
            ++ctx->running;
            asio::post(io, [driver = d.get()] { driver->start(); });
        }
    if (ctx->running == 0) ctx->running_guard.reset();
    io.run();
    if (host.loops_stopped()) host.park(std::shared_ptr<ThreadContext>(std::move(ctx)));
}

}  // namespace loadbench
