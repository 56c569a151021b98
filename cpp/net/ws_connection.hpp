// WsConnection: one WebSocket client connection (Boost.Beast) on an io_context, text frames, one
// request in flight: send() writes a message, then hands every message that arrives to the
// handler until it says it got its reply (other messages, e.g. unsolicited updates, are skipped).
// Opening is TCP connect + WebSocket handshake with a subprotocol (refused if the server does not
// select it) + the server's first message (a greeting the handler may check). A lost connection
// fails what is in flight, then reopens with backoff (10 ms doubling to 1 s), counted; interrupt()
// (the engine's watchdog) fails the request in flight as a timeout and reopens. An open that takes
// longer than kConnectTimeout starts over. With a TlsClient the WebSocket runs over TLS (wss://).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/outcome.hpp"
#include "net/http_connection.hpp"
#include "net/reconnect_backoff.hpp"

namespace loadbench {

struct WsSettings {
    std::string host_header;  // Host
    std::string target;       // path and query of the upgrade request
    std::string subprotocol;  // required: the server must select it
    std::string bearer;       // optional Authorization: Bearer token
};

class WsReplyHandler {
public:
    // One message; true when it is the reply awaited (keep what it says for on_reply()).
    virtual bool is_reply(std::string_view text) = 0;
    // The request is complete (the connection is ready for the next one).
    virtual void on_reply() = 0;
    virtual void on_failure(ErrorKind kind, const std::string& message) = 0;

protected:
    ~WsReplyHandler() = default;
};

class WsConnection : public std::enable_shared_from_this<WsConnection> {
public:
    WsConnection(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints, std::shared_ptr<const WsSettings> settings,
                 std::shared_ptr<TlsClient> tls = nullptr);
    ~WsConnection();

    // done("") once connected, upgraded and greeted; `greeting` checks the first message ("" if fine).
    void open(std::function<std::string(std::string_view)> greeting, std::function<void(std::string)> done);
    void send(const std::string& text, WsReplyHandler& handler);
    void interrupt() noexcept;  // thread-safe
    void close();

    std::uint64_t reconnects() const { return reconnects_; }

private:
    using Stream = boost::beast::websocket::stream<asio::ip::tcp::socket>;
    using TlsStream = boost::beast::websocket::stream<boost::beast::ssl_stream<asio::ip::tcp::socket>>;
    enum class State { connecting, ready, busy, backoff, closed };

    void start_connect();
    void arm_connect_timer();
    void on_connected();
    void upgrade();
    template <class F>
    void with_ws(F&& f) {  // the plain WebSocket, or the one over TLS
        if (wss_) f(*wss_);
        else f(*ws_);
    }
    void read_greeting();
    void on_open(const std::string& error);
    void write();
    void read_reply();
    void lost(ErrorKind kind, const std::string& message);
    void schedule_reconnect();
    void complete_failure(ErrorKind kind, const std::string& message);
    void close_stream();

    asio::io_context& io_;
    std::shared_ptr<const TcpEndpoints> endpoints_;
    std::shared_ptr<const WsSettings> settings_;
    std::shared_ptr<TlsClient> tls_;
    std::optional<Stream> ws_;
    std::optional<TlsStream> wss_;
    boost::beast::websocket::response_type upgrade_;
    asio::steady_timer timer_;          // reconnect backoff
    asio::steady_timer connect_timer_;  // kConnectTimeout
    std::uint64_t connect_seq_ = 0;     // which open a connect timer belongs to
    boost::beast::flat_buffer buffer_;
    State state_ = State::connecting;
    bool ever_opened_ = false;
    ReconnectBackoff backoff_;
    const std::string* outgoing_ = nullptr;
    WsReplyHandler* handler_ = nullptr;
    std::function<std::string(std::string_view)> greeting_;
    std::function<void(std::string)> open_done_;
    std::atomic<std::uint64_t> request_seq_{0};
    std::uint64_t reconnects_ = 0;
    std::string last_error_;
};

}  // namespace loadbench
