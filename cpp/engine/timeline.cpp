#include "engine/timeline.hpp"

#include <chrono>
#include <thread>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace loadbench {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::int64_t unix_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void Timeline::open(std::int64_t t0, std::int64_t warmup_ns, std::int64_t measure_ns) {
    origin_ns_ = t0;
    const std::int64_t window_open = t0 + warmup_ns;
    warmup_end_ns_ = window_open;
    // stop() may already have moved the end earlier; keep the earlier of the two.
    std::int64_t expected = INT64_MAX;
    measure_end_ns_.compare_exchange_strong(expected, window_open + measure_ns);
}

void Timeline::stop() {
    interrupted_ = true;
    const std::int64_t now = now_ns();
    std::int64_t end = measure_end_ns_.load();
    while (now < end && !measure_end_ns_.compare_exchange_weak(end, now)) {
    }
    if (!go_.load()) stop_ = true;  // still opening sessions: give up on them
    wake();
}

void Timeline::wake() {
    wake_word_.fetch_add(1, std::memory_order_release);
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
#endif
}

// A futex wait on wake_word_, which stop() bumps and wakes (both async-signal-safe), so the
// window closes when the signal comes, not at the next tick.
void Timeline::sleep(std::int64_t ns, std::uint32_t seen) {
    constexpr std::int64_t kSecondNs = 1'000'000'000;
#ifdef __linux__
    if (interrupted_.load() || ns <= 0) return;
    const timespec timeout{static_cast<time_t>(ns / kSecondNs), static_cast<long>(ns % kSecondNs)};
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word_), FUTEX_WAIT_PRIVATE, seen, &timeout, nullptr, 0);
#else
    (void)seen;
    std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
#endif
}

}  // namespace loadbench
