// InFlightKeys: counts collisions, i.e. how often an operation starts on a key (an account) that
// another in-flight operation already holds; this is what the Zipf alpha does to a run.
//
// Each worker publishes the keys of its operation in its own cache line, then bumps a per-key-hash
// counter in a small, cache-resident table. A counter already above zero means "possibly held":
// only then does the worker scan the other workers' published keys, so the count is exact and the
// common, uncontended case costs two atomic adds on lines that stay in cache (a table sized to the
// key space would miss the cache on every operation and cost more than the database's own work on
// a fast SQLite). Beyond kMaxExactWorkers the scan would cost more than it tells, and the hashed
// counters are reported as they are (exact() is false; over-counting odds: keys in flight / slots).
// With a single worker there is nothing to collide with, and nothing is done.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/workload.hpp"

namespace loadbench {

class InFlightKeys {
public:
    static constexpr std::size_t kMaxExactWorkers = 256;

    explicit InFlightKeys(std::size_t workers) : workers_(workers), held_(workers) {
        std::size_t slots = std::size_t{1} << 14;  // 64 KB: stays in L2, and two workers rarely share a line
        while (slots < 64 * workers && slots < (std::size_t{1} << 22)) slots *= 2;
        mask_ = slots - 1;
        counters_ = std::make_unique<std::atomic<std::uint32_t>[]>(slots);
        for (auto& h : held_)
            for (auto& k : h.keys) k.store(kNone, std::memory_order_relaxed);
    }

    // Marks the keys of `worker`'s operation held; returns how many (other operation, key) pairs
    // were already held when it started.
    std::uint32_t acquire(std::size_t worker, const OperationKeys& op) {
        if (workers_ < 2) return 0;
        Held& mine = held_[worker];
        for (int i = 0; i < op.count; ++i) mine.keys[i].store(op.keys[i], std::memory_order_relaxed);
        std::uint32_t collisions = 0;
        for (int i = 0; i < op.count; ++i) {
            // acq_rel: publishes my keys to whoever sees my increment, and shows me the keys of
            // everyone whose increment I see.
            const std::uint32_t before = slot(op.keys[i]).fetch_add(1, std::memory_order_acq_rel);
            if (before == 0) continue;
            collisions += workers_ > kMaxExactWorkers ? before : holders_other_than(worker, op.keys[i]);
        }
        return collisions;
    }

    void release(std::size_t worker, const OperationKeys& op) {
        if (workers_ < 2) return;
        Held& mine = held_[worker];
        for (int i = 0; i < op.count; ++i) {
            slot(op.keys[i]).fetch_sub(1, std::memory_order_release);
            mine.keys[i].store(kNone, std::memory_order_relaxed);
        }
    }

    bool exact() const { return workers_ <= kMaxExactWorkers; }
    std::size_t memory_bytes() const { return sizeof(*this) + held_.size() * sizeof(Held) + (mask_ + 1) * sizeof(counters_[0]); }

private:
    static constexpr std::uint64_t kNone = UINT64_MAX;

    struct alignas(64) Held {
        std::atomic<std::uint64_t> keys[2];
    };

    std::atomic<std::uint32_t>& slot(std::uint64_t key) {
        return counters_[(key * 0x9E3779B97F4A7C15ULL >> 32) & mask_];
    }

    std::uint32_t holders_other_than(std::size_t worker, std::uint64_t key) const {
        std::uint32_t n = 0;
        for (std::size_t w = 0; w < workers_; ++w) {
            if (w == worker) continue;
            for (const auto& k : held_[w].keys) n += k.load(std::memory_order_relaxed) == key;
        }
        return n;
    }

    std::size_t workers_;
    std::vector<Held> held_;
    std::uint64_t mask_ = 0;
    std::unique_ptr<std::atomic<std::uint32_t>[]> counters_;
};

}  // namespace loadbench
