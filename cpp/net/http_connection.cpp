#include "net/http_connection.hpp"
#include "engine/connection_events.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <chrono>

#include "errors/connector_errors.hpp"
#include "net/system_error.hpp"

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
    if (ec) throw ConnectorError("cannot resolve " + url.host + ": " + describe_error(ec));
    TcpEndpoints out;
    for (const auto& r : results) out.push_back(r.endpoint());
    if (out.empty()) throw ConnectorError("cannot resolve " + url.host + ": no address");
    return out;
}

std::shared_ptr<const TcpEndpoints> SharedEndpoints::get(const HttpUrl& url, std::string& error) {
    std::call_once(resolved_, [&] {
        try {
            endpoints_ = std::make_shared<const TcpEndpoints>(resolve_endpoints(url));
        } catch (const ConnectorError& e) {
            error_ = e.what();
        }
    });
    if (!endpoints_) error = error_;
    return endpoints_;
}

std::shared_ptr<TlsClient> make_tls_client(const HttpUrl& url) {
    if (!url.tls()) return nullptr;
    auto tls = std::make_shared<TlsClient>();
    tls->host = url.host;
    boost::system::error_code ec;
    tls->context.set_default_verify_paths(ec);  // the system's CAs, or SSL_CERT_FILE / SSL_CERT_DIR
    if (ec) throw ConnectorError("TLS: cannot load the trusted certificates: " + ec.message());
    tls->context.set_verify_mode(asio::ssl::verify_peer);
    tls->context.set_verify_callback(asio::ssl::host_name_verification(url.host));
    return tls;
}

bool set_server_name(SSL* ssl, const std::string& host) {
    const bool is_address = host.find_first_not_of("0123456789.") == std::string::npos || host.find(':') != std::string::npos;
    return is_address || SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
}

std::string tls_error(const boost::system::error_code& ec) {
    std::string message = describe_error(ec);
    if (ec.category() == asio::error::get_ssl_category()) {
        const unsigned long reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
        if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) message = "certificate verify failed";
    }
    return "TLS handshake failed: " + message;
}

void connect_to_any(tcp::socket& socket, std::shared_ptr<const TcpEndpoints> endpoints,
                    std::function<void(const boost::system::error_code&)> done, std::size_t first) {
    boost::system::error_code ec = asio::error::not_found;
    for (std::size_t i = first; i < endpoints->size(); ++i) {
        const tcp::endpoint& endpoint = (*endpoints)[i];
        boost::system::error_code ignored;
        if (socket.is_open()) socket.close(ignored);
        socket.open(endpoint.protocol(), ec);
        if (ec) continue;  // (another address family may still open)
        socket.async_connect(endpoint, [&socket, endpoints, done = std::move(done), i](const boost::system::error_code& ec) mutable {
            if (!ec || ec == asio::error::operation_aborted || i + 1 >= endpoints->size()) return done(ec);
            connect_to_any(socket, std::move(endpoints), std::move(done), i + 1);
        });
        return;
    }
    asio::post(socket.get_executor(), [done = std::move(done), ec] { done(ec); });
}

HttpConnection::HttpConnection(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints,
                               std::shared_ptr<TlsClient> tls)
    : io_(io), endpoints_(std::move(endpoints)), tls_(std::move(tls)), socket_(io), timer_(io), connect_timer_(io) {}

HttpConnection::~HttpConnection() { close_socket(); }

void HttpConnection::open(std::function<void(std::string)> done) {
    open_done_ = std::move(done);
    start_connect();
}

void HttpConnection::close_socket() {
    boost::system::error_code ignored;
    if (socket_.is_open()) socket_.close(ignored);
    if (tls_stream_ && tls_stream_->next_layer().is_open()) tls_stream_->next_layer().close(ignored);
}

void HttpConnection::start_connect() {
    state_ = State::connecting;
    close_socket();
    buffer_.clear();
    if (tls_) {
        tls_stream_.emplace(io_, tls_->context);
        if (!set_server_name(tls_stream_->native_handle(), tls_->host))
            return asio::post(io_, [self = shared_from_this()] { self->connect_failed("TLS: cannot set the server name"); });
    }
    arm_connect_timer();
    connect_to_any(tcp_socket(), endpoints_,
                   [self = shared_from_this()](const boost::system::error_code& ec) { self->on_connected(ec); });
}

void HttpConnection::arm_connect_timer() {
    const std::uint64_t seq = ++connect_seq_;
    connect_timer_.expires_after(kConnectTimeout);
    connect_timer_.async_wait([self = shared_from_this(), seq](const boost::system::error_code& ec) {
        if (ec || self->connect_seq_ != seq) return;
        self->connect_failed("cannot connect: no answer within " + std::to_string(kConnectTimeout.count() / 1000) + " s");
    });
}

void HttpConnection::connect_failed(const std::string& message) {
    if (state_ != State::connecting) return;
    last_error_ = message;
    ++connect_seq_;
    connect_timer_.cancel();
    close_socket();
    if (open_done_) {
        state_ = State::closed;
        return std::exchange(open_done_, nullptr)(last_error_);
    }
    reopen_counts_ = true;  // the server went away: the connection that finally opens is a reopen
    schedule_reconnect();
}

void HttpConnection::on_connected(const boost::system::error_code& ec) {
    if (state_ != State::connecting) return;  // closed (or interrupted) meanwhile
    if (ec) return connect_failed("cannot connect: " + describe_error(ec));
    boost::system::error_code ignored;
    tcp_socket().set_option(tcp::no_delay(true), ignored);
    if (!tls_stream_) return on_ready();
    tls_stream_->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (self->state_ != State::connecting) return;
        if (ec) return self->connect_failed(tls_error(ec));
        self->on_ready();
    });
}

void HttpConnection::on_ready() {
    state_ = State::ready;
    ++connect_seq_;
    connect_timer_.cancel();
    backoff_.reset();
    if (ever_connected_ && reopen_counts_) {
        ++reconnects_;
        note_reconnect();
    }
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
    with_stream([this](auto& stream) {
        http::async_write(stream, *request_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            if (self->state_ != State::busy) return;
            if (ec) return self->lost(ErrorKind::connection, "connection lost: " + describe_error(ec));
            self->read();
        });
    });
}

void HttpConnection::read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    with_stream([this](auto& stream) {
    http::async_read(stream, buffer_, *parser_,
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                         if (self->state_ != State::busy) return;
                         if (ec == http::error::body_limit || ec == http::error::bad_version ||
                             ec == http::error::bad_status || ec == http::error::bad_field ||
                             ec == http::error::bad_value || ec == http::error::bad_chunk)
                             return self->lost(ErrorKind::protocol, "malformed HTTP reply: " + ec.message());
                         if (ec) return self->lost(ErrorKind::connection, "connection lost: " + describe_error(ec));
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
    timer_.expires_after(backoff_.next());
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
    ++connect_seq_;
    connect_timer_.cancel();
    close_socket();
}

namespace {

// The connect-send-read chain of http_call, on a plain or a TLS stream.
template <class Stream>
void call_chain(Stream& stream, beast::tcp_stream& tcp, const TcpEndpoints& endpoints, HttpRequest& request,
                http::response_parser<http::string_body>& parser, beast::flat_buffer& buffer,
                std::chrono::milliseconds timeout, const char*& step, boost::system::error_code& failure,
                std::function<void(std::function<void()>)> handshake) {
    // Connecting never waits longer than a connection of the load would (kConnectTimeout), however
    // long the call may take to answer: a server whose SYNs go unanswered is unreachable.
    tcp.expires_after(std::min(timeout, std::chrono::milliseconds(kConnectTimeout)));
    // Everything the handlers use outlives io.run() in http_call, except the by-value arguments:
    // those are captured by value.
    tcp.async_connect(endpoints, [&, timeout, handshake](const boost::system::error_code& ec, const tcp::endpoint&) {
        if (ec) return void(failure = ec);
        handshake([&, timeout] {
            step = "send to";
            tcp.expires_after(timeout);
            http::async_write(stream, request, [&, timeout](const boost::system::error_code& ec, std::size_t) {
                if (ec) return void(failure = ec);
                step = "read the reply of";
                tcp.expires_after(timeout);
                http::async_read(stream, buffer, parser, [&](const boost::system::error_code& ec, std::size_t) {
                    if (ec) failure = ec;
                });
            });
        });
    });
}

}  // namespace

namespace {

HttpCallResult http_call_once(const HttpUrl& url, http::verb method, const std::string& target,
                              const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                              double timeout_s, const std::string& what) {
    asio::io_context io;
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
    const auto tls = make_tls_client(url);
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    if (tls) {
        secure.emplace(io, tls->context);
        if (!set_server_name(secure->native_handle(), tls->host)) throw ConnectorError(what + ": TLS: cannot set the server name");
        auto& tcp = beast::get_lowest_layer(*secure);
        call_chain(*secure, tcp, endpoints, request, parser, buffer, timeout, step, failure,
                   [&](std::function<void()> next) {
                       step = "complete the TLS handshake with";
                       tcp.expires_after(std::min(timeout, std::chrono::milliseconds(kConnectTimeout)));
                       secure->async_handshake(asio::ssl::stream_base::client, [&, next](const boost::system::error_code& ec) {
                           if (ec) return void(failure = ec);
                           next();
                       });
                   });
    } else {
        plain.emplace(io);
        call_chain(*plain, *plain, endpoints, request, parser, buffer, timeout, step, failure,
                   [](std::function<void()> next) { next(); });
    }
    io.run();
    if (failure == asio::error::operation_aborted && std::string_view(step) == "connect to") {
        // Nothing here cancels a connect: asio's range connect says this when it could not open
        // the socket (a process out of descriptors). Ask the system why.
        tcp::socket probe(io);
        boost::system::error_code why;
        probe.open(endpoints.front().protocol(), why);
        if (why) failure = why;
    }
    if (failure) {
        std::string reason = failure == beast::error::timeout ? "timed out" : describe_error(failure);
        if (failure.category() == asio::error::get_ssl_category()) reason = tls_error(failure);
        throw ConnectorError(what + ": cannot " + step + " " + url.origin() + ": " + reason);
    }
    HttpResponse response = parser.release();
    return {response.result_int(), std::move(response.body())};
}

}  // namespace

HttpCallResult http_call(const HttpUrl& url, http::verb method, const std::string& target,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                         double timeout_s, const std::string& what) {
    try {
        return http_call_once(url, method, target, headers, body, timeout_s, what);
    } catch (const boost::system::system_error& e) {  // the event loop itself could not start (epoll, eventfd)
        throw ConnectorError(what + ": cannot connect to " + url.origin() + ": " + describe_error(e.code()));
    }
}

}  // namespace loadbench
