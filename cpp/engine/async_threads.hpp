// One io_context per event-loop thread of a run, each with its reactor (epoll, timerfd, eventfd)
// already created: the monitor thread must find those descriptors in its copy of the file table.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <vector>

namespace loadbench {

struct AsyncThreads {
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts;

    explicit AsyncThreads(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            contexts.push_back(std::make_unique<boost::asio::io_context>(1));
            boost::asio::steady_timer create_reactor(*contexts.back());  // timers live in the reactor
        }
    }
};

}  // namespace loadbench
