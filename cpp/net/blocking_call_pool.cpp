#include "net/blocking_call_pool.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace loadbench {

// The mutex is held only to move calls in and out of the queue, never while a call runs.
struct BlockingCallPool::State {
    std::size_t max_threads;
    std::size_t max_queued;
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void()>> queue;
    std::size_t threads = 0;
    std::size_t idle = 0;
    bool closing = false;
    std::uint64_t completed = 0;
    std::uint64_t dropped = 0;

    // A thread counts as idle from its creation, so that submit() starts no more than it needs.
    static void thread_main(const std::shared_ptr<State>& self) {
        std::unique_lock lock(self->mutex);
        for (;;) {
            self->wake.wait(lock, [&] { return self->closing || !self->queue.empty(); });
            --self->idle;
            if (self->closing) break;
            std::function<void()> call = std::move(self->queue.front());
            self->queue.pop_front();
            lock.unlock();
            try {
                call();
            } catch (...) {
            }
            call = nullptr;  // whatever it holds is released outside the lock
            lock.lock();
            ++self->completed;
            ++self->idle;
        }
        --self->threads;
    }
};

BlockingCallPool::BlockingCallPool(std::size_t threads, std::size_t max_queued)
    : state_(std::make_shared<State>()) {
    state_->max_threads = threads < 1 ? 1 : threads;
    state_->max_queued = max_queued;
}

BlockingCallPool::~BlockingCallPool() {
    std::deque<std::function<void()>> dropped;
    {
        std::lock_guard lock(state_->mutex);
        state_->closing = true;
        dropped.swap(state_->queue);
        state_->dropped += dropped.size();
    }
    state_->wake.notify_all();
}

bool BlockingCallPool::submit(std::function<void()> call) noexcept {
    State& st = *state_;
    try {
        std::unique_lock lock(st.mutex);
        if (st.closing || st.queue.size() >= st.max_queued) {
            ++st.dropped;
            return false;
        }
        // One more thread when every thread is busy (maybe stuck) and the pool may grow.
        if (st.idle <= st.queue.size() && st.threads < st.max_threads) {
            try {
                std::thread(State::thread_main, state_).detach();
                ++st.threads;
                ++st.idle;
            } catch (...) {  // no thread now: the running ones will take it, if any
            }
        }
        if (st.threads == 0) {
            ++st.dropped;
            return false;
        }
        st.queue.push_back(std::move(call));
        lock.unlock();
        st.wake.notify_one();
        return true;
    } catch (...) {  // no memory for the queue
        std::lock_guard lock(st.mutex);
        ++st.dropped;
        return false;
    }
}

std::uint64_t BlockingCallPool::completed() const {
    std::lock_guard lock(state_->mutex);
    return state_->completed;
}

std::uint64_t BlockingCallPool::dropped() const {
    std::lock_guard lock(state_->mutex);
    return state_->dropped;
}

}  // namespace loadbench
