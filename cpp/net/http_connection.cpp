#include "net/http_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <chrono>

#include "connectors/connector.hpp"

namespace loadbench {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t kBodyLimit = 8 << 20;  // a reply larger than this is a protocol error
}

TcpEndpoints resolve_endpoints(const HttpUrl& url) {
    asio::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto results = resolver.resolve(url.host, url.port, ec);
    if (ec) throw ConnectorError("cannot resolve " + url.host + ": " + ec.message());
    TcpEndpoints out;
    for (const auto& r : results) out.push_back(r.endpoint());
    if (out.empty()) throw ConnectorError("cannot resolve " + url.host + ": no address");
    return out;
}

HttpConnection::HttpConnection(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints)
    : io_(io), endpoints_(std::move(endpoints)), socket_(io), timer_(io) {}

HttpConnection::~HttpConnection() { close_socket(); }

void HttpConnection::open(std::function<void(std::string)> done) {
    open_done_ = std::move(done);
    start_connect();
}

void HttpConnection::close_socket() {
    boost::system::error_code ignored;
    if (socket_.is_open()) socket_.close(ignored);
}

void HttpConnection::start_connect() {
    state_ = State::connecting;
    close_socket();
    buffer_.clear();
    asio::async_connect(socket_, *endpoints_,
                        [self = shared_from_this()](const boost::system::error_code& ec, const tcp::endpoint&) {
                            self->on_connected(ec);
                        });
}

void HttpConnection::on_connected(const boost::system::error_code& ec) {
    if (state_ != State::connecting) return;  // closed (or interrupted) meanwhile
    if (ec) {
        last_error_ = "cannot connect: " + ec.message();
        if (open_done_) {
            state_ = State::closed;
            return std::exchange(open_done_, nullptr)(last_error_);
        }
        reopen_counts_ = true;  // the server went away: the connection that finally opens is a reopen
        return schedule_reconnect();
    }
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    state_ = State::ready;
    backoff_ms_ = 0;
    if (ever_connected_ && reopen_counts_) ++reconnects_;
    ever_connected_ = true;
    reopen_counts_ = false;
    if (open_done_) std::exchange(open_done_, nullptr)("");
    if (request_) write();
}

void HttpConnection::send(HttpRequest& request, HttpResponseHandler& handler) {
    request_ = &request;
    handler_ = &handler;
    request_seq_.fetch_add(1, std::memory_order_release);
    if (state_ == State::ready) return write();
    if (state_ == State::closed) {
        return asio::post(io_, [self = shared_from_this()] {
            self->complete_failure(ErrorKind::connection, "connection closed");
        });
    }
    if (state_ == State::idle) start_connect();  // the server closed it after the last reply
    // connecting or backoff: on_connected sends it
}

void HttpConnection::write() {
    state_ = State::busy;
    http::async_write(socket_, *request_,
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          if (self->state_ != State::busy) return;
                          if (ec) return self->lost(ErrorKind::connection, "connection lost: " + ec.message());
                          self->read();
                      });
}

void HttpConnection::read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                         if (self->state_ != State::busy) return;
                         if (ec == http::error::body_limit || ec == http::error::bad_version ||
                             ec == http::error::bad_status || ec == http::error::bad_field ||
                             ec == http::error::bad_value || ec == http::error::bad_chunk)
                             return self->lost(ErrorKind::protocol, "malformed HTTP reply: " + ec.message());
                         if (ec) return self->lost(ErrorKind::connection, "connection lost: " + ec.message());
                         HttpResponse response = self->parser_->release();
                         HttpResponseHandler* handler = std::exchange(self->handler_, nullptr);
                         self->request_ = nullptr;
                         if (response.keep_alive()) {
                             self->state_ = State::ready;
                         } else {  // the server is closing it: reconnect for the next request, uncounted
                             self->close_socket();
                             self->state_ = State::idle;
                         }
                         handler->on_response(response);
                     });
}

void HttpConnection::complete_failure(ErrorKind kind, const std::string& message) {
    if (!handler_) return;
    request_ = nullptr;
    std::exchange(handler_, nullptr)->on_failure(kind, message);
}

void HttpConnection::lost(ErrorKind kind, const std::string& message) {
    if (state_ == State::closed) return;
    last_error_ = message;
    close_socket();
    reopen_counts_ = true;
    schedule_reconnect();
    // What was in flight may or may not have been applied: failed, not retried. Reported from
    // here: lost() runs only in completion handlers, never inside send().
    complete_failure(kind, message);
}

void HttpConnection::schedule_reconnect() {
    state_ = State::backoff;
    backoff_ms_ = std::clamp(backoff_ms_ * 2, 10, 1000);
    timer_.expires_after(std::chrono::milliseconds(backoff_ms_));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->state_ == State::backoff) self->start_connect();
    });
}

void HttpConnection::interrupt() noexcept {
    const std::uint64_t seq = request_seq_.load(std::memory_order_acquire);
    try {
        asio::post(io_, [self = shared_from_this(), seq] {
            if (!self->handler_ || self->request_seq_.load(std::memory_order_acquire) != seq) return;
            if (self->state_ == State::busy) {
                self->lost(ErrorKind::timeout, "timed out waiting for the reply");
            } else {  // still waiting for a connection: fail the request, keep reconnecting
                self->complete_failure(ErrorKind::timeout, "timed out waiting for a connection: " + self->last_error_);
            }
        });
    } catch (...) {
    }
}

void HttpConnection::close() {
    state_ = State::closed;
    timer_.cancel();
    close_socket();
}

HttpCallResult http_call(const HttpUrl& url, http::verb method, const std::string& target,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                         double timeout_s, const std::string& what) {
    asio::io_context io;
    beast::tcp_stream stream(io);
    const auto timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
    const TcpEndpoints endpoints = resolve_endpoints(url);
    HttpRequest request{method, target, 11};
    request.set(http::field::host, url.host_header());
    request.set(http::field::user_agent, "loadbench");
    for (const auto& [name, value] : headers) request.set(name, value);
    if (!body.empty() || method == http::verb::post) {
        request.body() = body;
        request.prepare_payload();
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    boost::system::error_code failure;
    const char* step = "connect to";
    stream.expires_after(timeout);
    stream.async_connect(endpoints, [&](const boost::system::error_code& ec, const tcp::endpoint&) {
        if (ec) return void(failure = ec);
        step = "send to";
        stream.expires_after(timeout);
        http::async_write(stream, request, [&](const boost::system::error_code& ec, std::size_t) {
            if (ec) return void(failure = ec);
            step = "read the reply of";
            stream.expires_after(timeout);
            http::async_read(stream, buffer, parser, [&](const boost::system::error_code& ec, std::size_t) {
                if (ec) failure = ec;
            });
        });
    });
    io.run();
    if (failure) {
        const std::string reason = failure == beast::error::timeout ? "timed out" : failure.message();
        throw ConnectorError(what + ": cannot " + step + " " + url.origin() + ": " + reason);
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    HttpResponse response = parser.release();
    return {response.result_int(), std::move(response.body())};
}

}  // namespace loadbench
