// ReconnectBackoff: how long a lost connection waits before its next connect, for every
// connection type (HTTP, WebSocket, PostgreSQL, MariaDB, Redis). 10 ms after the first failure,
// doubling to at most 1 s while the server stays away, back to the start once a connect succeeds:
// a restarted server is found within a second, and a down one costs a few connects a second.
#pragma once

#include <algorithm>
#include <chrono>

namespace loadbench {

class ReconnectBackoff {
public:
    static constexpr int kFirstMs = 10;
    static constexpr int kMaxMs = 1000;

    // The wait before the next connect: 10, 20, 40 ... 1000 ms.
    std::chrono::milliseconds next() {
        ms_ = std::clamp(ms_ * 2, kFirstMs, kMaxMs);
        return std::chrono::milliseconds(ms_);
    }
    // A connect succeeded: the next loss starts again from kFirstMs.
    void reset() { ms_ = 0; }

private:
    int ms_ = 0;
};

}  // namespace loadbench
