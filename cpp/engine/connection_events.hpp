// Connection events the engine reports while a run is in progress, counted process-wide because
// a connection knows nothing of the run it serves. The monitor reads the count into Progress, so
// whoever watches a run (resource sampling) learns at once that server-side processes may have
// changed (a reconnect means a new backend, or a restarted server), instead of on a timer.
#pragma once

#include <atomic>
#include <cstdint>

namespace loadbench {

inline std::atomic<std::uint64_t> g_reconnect_events{0};

// Called by a connection each time it re-establishes itself after a loss.
inline void note_reconnect() { g_reconnect_events.fetch_add(1, std::memory_order_relaxed); }

}  // namespace loadbench
