// WorkerMetrics: everything one worker thread records, owned by that thread during the run and
// merged by the engine afterwards. The owner writes only between enter() and leave(); the monitor
// swaps the per-second interval out once a second and, at the end, seals the metrics, each time
// waiting for a write in progress to end (writes are a few hundred ns of arithmetic, never a wait
// on a server). After seal() the owner's enter() fails: a thread the engine gave up on (an attempt
// that never returned) can no longer touch what was merged. One uncontended exchange and one load
// per write, the cost the interval's spin lock had before.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/outcome.hpp"
#include "metrics/latency_histogram.hpp"

namespace loadbench {

struct OutcomeCounters {
    std::uint64_t committed = 0;
    std::uint64_t rejected = 0;
    std::uint64_t failed = 0;
    std::uint64_t attempts = 0;  // every try, retries included
    std::uint64_t retries = 0;   // tries after the first
    std::array<std::uint64_t, kErrorKinds> errors{};          // failed operations by kind
    std::array<std::uint64_t, kErrorKinds> retried_errors{};  // retried attempts by kind
    std::uint64_t collision_ops = 0;    // operations that started on a key another in-flight op held
    std::uint64_t collision_count = 0;  // sum over those of the number of such holders
    std::uint64_t before_window = 0;    // operations that completed during warmup (not counted)
    std::uint64_t reconnects = 0;       // connections re-established after a loss (whole run)
    // Open loop: intended starts in the window, those skipped for max_lag, those never begun.
    std::uint64_t scheduled = 0;
    std::uint64_t dropped = 0;
    std::uint64_t unstarted = 0;
    // Operations that began at or after the window's end (a start racing stop()): not counted.
    std::uint64_t after_window = 0;
    // Operations begun in the window that completed after it closed, in the drain (counted above
    // with their outcome), and the longest latency among them.
    std::uint64_t drained = 0;
    std::uint64_t drained_max_ns = 0;

    // Identity (pgbench's StatsData): every operation begun in the window (open loop: intended to
    // begin in it) is exactly one of committed, rejected or failed (by kind, `unfinished` included).
    std::uint64_t operations() const { return committed + rejected + failed; }
    void merge(const OutcomeCounters& o);
};

// One second's worth of counted operations. Latency at 2 significant figures is plenty for a
// timeline and keeps the swap cheap. Identity: failed = the sum of errors over the kinds.
struct IntervalCounts {
    LatencyHistogram latency{2};
    std::uint64_t committed = 0;
    std::uint64_t rejected = 0;
    std::uint64_t failed = 0;
    std::array<std::uint64_t, kErrorKinds> errors{};  // failed operations by kind

    void reset() {
        latency.reset();
        committed = rejected = failed = 0;
        errors.fill(0);
    }
    void merge(const IntervalCounts& o) {
        latency.merge(o.latency);
        committed += o.committed;
        rejected += o.rejected;
        failed += o.failed;
        for (std::size_t k = 0; k < kErrorKinds; ++k) errors[k] += o.errors[k];
    }
};

// One operation type's share of a worker's counts (workloads with several types).
struct TypeMetrics {
    std::uint64_t committed = 0, rejected = 0, failed = 0, retries = 0;
    LatencyHistogram latency{3};

    void merge(const TypeMetrics& o) {
        committed += o.committed;
        rejected += o.rejected;
        failed += o.failed;
        retries += o.retries;
        latency.merge(o.latency);
    }
};

class alignas(64) WorkerMetrics {
public:
    explicit WorkerMetrics(bool open_loop = false, std::size_t operation_types = 0)
        : service(open_loop ? std::make_unique<LatencyHistogram>(3) : nullptr),
          lag(open_loop ? std::make_unique<LatencyHistogram>(3) : nullptr),
          by_type(operation_types) {}

    // Committed and rejected operations in the measured window: from the intended start in an
    // open loop (the response time a user sees), from the actual start in a closed one.
    LatencyHistogram latency{3};
    std::unique_ptr<LatencyHistogram> service;  // open loop: from the actual start
    std::unique_ptr<LatencyHistogram> lag;      // open loop: actual start - intended start
    std::vector<TypeMetrics> by_type;           // empty for a single operation type
    OutcomeCounters counters;
    std::string first_error_by_kind[kErrorKinds];  // one example message per kind

    // Owner thread: true when it may write (until leave()); false once the metrics are sealed.
    // Dekker's handshake with swap_interval() and seal(): each side publishes its flag, then reads
    // the other's (sequentially consistent), so they never both proceed.
    bool enter() {
        for (;;) {
            busy_.store(true, std::memory_order_seq_cst);
            const int monitor = monitor_.load(std::memory_order_seq_cst);
            if (monitor == kFree) return true;
            busy_.store(false, std::memory_order_release);
            if (monitor == kSealed) return false;
            while (monitor_.load(std::memory_order_acquire) == kSwapping) {
            }
        }
    }
    void leave() { busy_.store(false, std::memory_order_release); }

    // Owner thread, between enter() and leave().
    void record_interval(Outcome outcome, ErrorKind kind, std::uint64_t latency_ns) {
        IntervalCounts& iv = *active_;
        if (outcome == Outcome::failed) {
            ++iv.failed;
            ++iv.errors[static_cast<std::size_t>(kind)];
        } else {
            (outcome == Outcome::committed ? iv.committed : iv.rejected) += 1;
            iv.latency.record(latency_ns);
        }
    }

    // Monitor thread: makes the spare interval current and returns the finished one, which the
    // caller reads and resets before the next swap.
    IntervalCounts& swap_interval() {
        const int before = monitor_.load(std::memory_order_relaxed);  // only the monitor writes it
        monitor_.store(kSwapping, std::memory_order_seq_cst);
        while (busy_.load(std::memory_order_seq_cst)) {
        }
        IntervalCounts* done = active_;
        active_ = (active_ == &a_) ? &b_ : &a_;
        monitor_.store(before == kSealed ? kSealed : kFree, std::memory_order_release);
        return *done;
    }

    // Monitor thread: waits for a write in progress, then refuses every later one. Everything
    // written before is visible to the caller.
    void seal() {
        monitor_.store(kSealed, std::memory_order_seq_cst);
        while (busy_.load(std::memory_order_seq_cst)) {
        }
    }

    // Heap and object bytes of one WorkerMetrics with these parameters (the resource estimate).
    std::size_t memory_bytes() const {
        auto histogram = [](const LatencyHistogram& h) { return h.bucket_slots() * sizeof(std::uint64_t); };
        std::size_t bytes = sizeof(*this) + histogram(latency) + histogram(a_.latency) + histogram(b_.latency);
        if (service) bytes += 2 * (sizeof(LatencyHistogram) + histogram(*service));
        for (const TypeMetrics& t : by_type) bytes += sizeof(TypeMetrics) + histogram(t.latency);
        return bytes;
    }

private:
    static constexpr int kFree = 0, kSwapping = 1, kSealed = 2;
    alignas(64) std::atomic<bool> busy_{false};  // the owner is writing
    std::atomic<int> monitor_{kFree};
    IntervalCounts a_, b_;
    IntervalCounts* active_ = &a_;
};

}  // namespace loadbench
