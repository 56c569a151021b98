#include "net/ws_connection.hpp"
#include "engine/connection_events.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <chrono>

#include "net/system_error.hpp"

namespace loadbench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

WsConnection::WsConnection(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints,
                           std::shared_ptr<const WsSettings> settings, std::shared_ptr<TlsClient> tls)
    : io_(io),
      endpoints_(std::move(endpoints)),
      settings_(std::move(settings)),
      tls_(std::move(tls)),
      timer_(io),
      connect_timer_(io) {}

WsConnection::~WsConnection() { close_stream(); }

void WsConnection::open(std::function<std::string(std::string_view)> greeting, std::function<void(std::string)> done) {
    greeting_ = std::move(greeting);
    open_done_ = std::move(done);
    start_connect();
}

void WsConnection::close_stream() {
    boost::system::error_code ignored;
    if (ws_) beast::get_lowest_layer(*ws_).close(ignored);
    if (wss_) beast::get_lowest_layer(*wss_).close(ignored);
}

void WsConnection::start_connect() {
    state_ = State::connecting;
    close_stream();
    buffer_.clear();
    if (tls_) {
        wss_.emplace(io_, tls_->context);
        if (!set_server_name(wss_->next_layer().native_handle(), tls_->host))
            return asio::post(io_, [self = shared_from_this()] { self->on_open("TLS: cannot set the server name"); });
    } else {
        ws_.emplace(io_);
    }
    arm_connect_timer();
    auto& socket = wss_ ? beast::get_lowest_layer(*wss_) : beast::get_lowest_layer(*ws_);
    connect_to_any(socket, endpoints_, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (self->state_ != State::connecting) return;
        if (ec) return self->on_open("cannot connect: " + describe_error(ec));
        self->on_connected();
    });
}

// Covers the whole open: connect, TLS, upgrade and greeting.
void WsConnection::arm_connect_timer() {
    const std::uint64_t seq = ++connect_seq_;
    connect_timer_.expires_after(kConnectTimeout);
    connect_timer_.async_wait([self = shared_from_this(), seq](const boost::system::error_code& ec) {
        if (ec || self->connect_seq_ != seq || self->state_ != State::connecting) return;
        self->close_stream();
        self->on_open("cannot open: no answer within " + std::to_string(kConnectTimeout.count() / 1000) + " s");
    });
}

void WsConnection::on_connected() {
    boost::system::error_code ignored;
    auto& socket = wss_ ? beast::get_lowest_layer(*wss_) : beast::get_lowest_layer(*ws_);
    socket.set_option(tcp::no_delay(true), ignored);
    if (!wss_) return upgrade();
    wss_->next_layer().async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (self->state_ != State::connecting) return;
        if (ec) return self->on_open(tls_error(ec));
        self->upgrade();
    });
}

void WsConnection::upgrade() {
    with_ws([this](auto& ws) {
        ws.set_option(websocket::stream_base::decorator([settings = settings_](websocket::request_type& req) {
            req.set(beast::http::field::sec_websocket_protocol, settings->subprotocol);
            req.set(beast::http::field::user_agent, "loadbench");
            if (!settings->bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + settings->bearer);
        }));
        ws.text(true);
        upgrade_ = {};
        ws.async_handshake(upgrade_, settings_->host_header, settings_->target,
                           [self = shared_from_this()](const boost::system::error_code& ec) {
                               if (self->state_ != State::connecting) return;
                               if (ec) {
                                   const unsigned status = self->upgrade_.result_int();
                                   return self->on_open("WebSocket upgrade refused" +
                                                        (status ? " (HTTP " + std::to_string(status) + ")" : std::string()) +
                                                        ": " + describe_error(ec));
                               }
                               if (self->upgrade_[beast::http::field::sec_websocket_protocol] != self->settings_->subprotocol)
                                   return self->on_open("the server did not accept subprotocol " + self->settings_->subprotocol);
                               self->read_greeting();
                           });
    });
}

void WsConnection::read_greeting() {
    with_ws([this](auto& ws) {
    ws.async_read(buffer_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        if (self->state_ != State::connecting) return;
        if (ec) return self->on_open("connection lost before the greeting: " + describe_error(ec));
        const std::string text = beast::buffers_to_string(self->buffer_.data());
        self->buffer_.consume(self->buffer_.size());
        self->on_open(self->greeting_ ? self->greeting_(text) : std::string());
    });
    });
}

void WsConnection::on_open(const std::string& error) {
    ++connect_seq_;
    connect_timer_.cancel();
    if (!error.empty()) {
        last_error_ = error;
        if (open_done_) {  // the first open reports; later ones retry
            state_ = State::closed;
            close_stream();
            return std::exchange(open_done_, nullptr)(error);
        }
        return schedule_reconnect();
    }
    state_ = State::ready;
    backoff_.reset();
    if (ever_opened_) {
        ++reconnects_;
        note_reconnect();
    }
    ever_opened_ = true;
    if (open_done_) std::exchange(open_done_, nullptr)("");
    if (handler_) write();
}

void WsConnection::send(const std::string& text, WsReplyHandler& handler) {
    outgoing_ = &text;
    handler_ = &handler;
    request_seq_.fetch_add(1, std::memory_order_release);
    if (state_ == State::ready) return write();
    if (state_ == State::closed) {
        asio::post(io_, [self = shared_from_this()] { self->complete_failure(ErrorKind::connection, "connection closed"); });
    }
    // connecting or backoff: on_open sends it
}

void WsConnection::write() {
    state_ = State::busy;
    with_ws([this](auto& ws) {
        ws.async_write(asio::buffer(*outgoing_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            if (self->state_ != State::busy) return;
            if (ec) return self->lost(ErrorKind::connection, "connection lost: " + describe_error(ec));
            self->read_reply();
        });
    });
}

void WsConnection::read_reply() {
    with_ws([this](auto& ws) {
    ws.async_read(buffer_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        if (self->state_ != State::busy) return;
        if (ec) return self->lost(ErrorKind::connection, "connection lost: " + describe_error(ec));
        const std::string text = beast::buffers_to_string(self->buffer_.data());
        self->buffer_.consume(self->buffer_.size());
        if (!self->handler_->is_reply(text)) return self->read_reply();
        self->state_ = State::ready;
        self->outgoing_ = nullptr;
        std::exchange(self->handler_, nullptr)->on_reply();
    });
    });
}

void WsConnection::complete_failure(ErrorKind kind, const std::string& message) {
    if (!handler_) return;
    outgoing_ = nullptr;
    std::exchange(handler_, nullptr)->on_failure(kind, message);
}

void WsConnection::lost(ErrorKind kind, const std::string& message) {
    if (state_ == State::closed) return;
    last_error_ = message;
    close_stream();
    schedule_reconnect();
    complete_failure(kind, message);
}

void WsConnection::schedule_reconnect() {
    state_ = State::backoff;
    timer_.expires_after(backoff_.next());
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->state_ == State::backoff) self->start_connect();
    });
}

void WsConnection::interrupt() noexcept {
    const std::uint64_t seq = request_seq_.load(std::memory_order_acquire);
    try {
        asio::post(io_, [self = shared_from_this(), seq] {
            if (!self->handler_ || self->request_seq_.load(std::memory_order_acquire) != seq) return;
            if (self->state_ == State::busy) return self->lost(ErrorKind::timeout, "timed out waiting for the reply");
            self->complete_failure(ErrorKind::timeout, "timed out waiting for a connection: " + self->last_error_);
        });
    } catch (...) {
    }
}

void WsConnection::close() {
    state_ = State::closed;
    timer_.cancel();
    ++connect_seq_;
    connect_timer_.cancel();
    close_stream();
}

}  // namespace loadbench
