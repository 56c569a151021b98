// HttpConnection: one HTTP/1.1 keep-alive connection driven on an io_context (Boost.Beast), with
// one request in flight. A lost connection fails the request in flight (as a connection error: it
// may have been applied), then reopens with backoff (10 ms doubling to 1 s) and counts the
// reopen; a request sent meanwhile waits for it. Timeouts are the engine's: its watchdog calls
// interrupt(), which fails what is in flight as a timeout and reopens the connection.
//
// https:// URLs run over TLS (OpenSSL through Boost.Asio's ssl::stream): the server's certificate
// is verified against the system's CAs (or SSL_CERT_FILE's) and the URL's host name, with SNI.
//
// http_call() is the blocking form for control-plane calls (check, prep, verify), with a timeout.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/outcome.hpp"
#include "net/http_url.hpp"
#include "net/reconnect_backoff.hpp"

namespace loadbench {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;
using TcpEndpoints = std::vector<asio::ip::tcp::endpoint>;

// Resolves the URL's host once (blocking); throws ConnectorError when it cannot.
TcpEndpoints resolve_endpoints(const HttpUrl& url);

// A connector's server addresses, resolved on the first session's open (the engine opens sessions
// from several threads) and shared by every session after; a failure fails every open alike.
class SharedEndpoints {
public:
    // Resolves now, on the calling thread: connectors call it when constructed (before any load),
    // so that no event loop waits on a name lookup when sessions open.
    void resolve(const HttpUrl& url) {
        std::string ignored;
        get(url, ignored);
    }
    // The endpoints, or nullptr when they cannot be resolved; `error` then says why.
    std::shared_ptr<const TcpEndpoints> get(const HttpUrl& url, std::string& error);

private:
    std::once_flag resolved_;
    std::shared_ptr<const TcpEndpoints> endpoints_;
    std::string error_;
};

// What a TLS connection needs: the verifying context and the name to check (and send as SNI).
struct TlsClient {
    asio::ssl::context context{asio::ssl::context::tls_client};
    std::string host;
};
// nullptr for a plain http:// URL; throws ConnectorError when the CAs cannot be loaded.
std::shared_ptr<TlsClient> make_tls_client(const HttpUrl& url);
// Prepares a fresh TLS stream's SSL object: the server name it asks for (SNI); false on failure.
bool set_server_name(SSL* ssl, const std::string& host);
// A TLS failure in one line ("TLS handshake failed: certificate verify failed").
std::string tls_error(const boost::system::error_code& ec);

// How long opening a connection (TCP connect, TLS handshake and, for a WebSocket, the upgrade and
// the greeting) may take before it starts over (a reopen) or fails (the first open): a connect
// nobody answers would otherwise wait for TCP to give up, minutes later, and a server that
// accepts and then says nothing would hold the connection forever.
inline constexpr std::chrono::milliseconds kConnectTimeout{10'000};

// Connects `socket` to the first of `endpoints` that accepts, as asio::async_connect does, except
// that a socket that cannot be opened reports why (asio's range connect says "Operation canceled"
// for a process out of descriptors). `done` runs on the socket's executor, never inside the call.
void connect_to_any(asio::ip::tcp::socket& socket, std::shared_ptr<const TcpEndpoints> endpoints,
                    std::function<void(const boost::system::error_code&)> done, std::size_t first = 0);

// Receives the outcome of HttpConnection::send(), exactly once, on the io_context's thread and
// never inside send() itself.
class HttpResponseHandler {
public:
    virtual void on_response(const HttpResponse& response) = 0;
    virtual void on_failure(ErrorKind kind, const std::string& message) = 0;

protected:
    ~HttpResponseHandler() = default;
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
public:
    HttpConnection(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints,
                   std::shared_ptr<TlsClient> tls = nullptr);
    ~HttpConnection();

    // Connects; done("") on success, else the error (no retry: a failed first open is reported).
    void open(std::function<void(std::string)> done);
    // Sends `request` (owned by the caller, alive until the handler is called).
    void send(HttpRequest& request, HttpResponseHandler& handler);
    // Thread-safe: fails the request in flight now (as a timeout) and reopens the connection.
    void interrupt() noexcept;
    // No more requests: closes the socket and stops reconnecting.
    void close();

    std::uint64_t reconnects() const { return reconnects_; }
    const std::string& last_error() const { return last_error_; }

private:
    enum class State { idle, connecting, ready, busy, backoff, closed };

    void start_connect();
    void on_connected(const boost::system::error_code& ec);
    void on_ready();
    void connect_failed(const std::string& message);
    void arm_connect_timer();
    asio::ip::tcp::socket& tcp_socket() { return tls_stream_ ? tls_stream_->next_layer() : socket_; }
    template <class F>
    void with_stream(F&& f) {  // the plain socket, or the TLS stream over it
        if (tls_stream_) f(*tls_stream_);
        else f(socket_);
    }
    void write();
    void read();
    void lost(ErrorKind kind, const std::string& message);
    void schedule_reconnect();
    void close_socket();
    void complete_failure(ErrorKind kind, const std::string& message);

    asio::io_context& io_;
    std::shared_ptr<const TcpEndpoints> endpoints_;
    std::shared_ptr<TlsClient> tls_;
    asio::ip::tcp::socket socket_;                                          // plain http
    std::optional<boost::beast::ssl_stream<asio::ip::tcp::socket>> tls_stream_;  // https, one per connect
    asio::steady_timer timer_;          // reconnect backoff
    asio::steady_timer connect_timer_;  // kConnectTimeout
    std::uint64_t connect_seq_ = 0;     // which open a connect timer belongs to
    boost::beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::string_body>> parser_;
    State state_ = State::idle;
    bool ever_connected_ = false;
    bool reopen_counts_ = false;  // the next successful connect is a counted reopen
    ReconnectBackoff backoff_;
    HttpRequest* request_ = nullptr;        // waiting to be sent, or in flight
    HttpResponseHandler* handler_ = nullptr;
    std::function<void(std::string)> open_done_;
    std::atomic<std::uint64_t> request_seq_{0};  // interrupt() acts only on the request it saw
    std::uint64_t reconnects_ = 0;
    std::string last_error_;
};

struct HttpCallResult {
    unsigned status = 0;
    std::string body;
};

// One blocking request on a fresh connection; throws ConnectorError (naming `what`) on a network
// error or when `timeout_s` passes.
HttpCallResult http_call(const HttpUrl& url, http::verb method, const std::string& target,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                         double timeout_s, const std::string& what);

}  // namespace loadbench
