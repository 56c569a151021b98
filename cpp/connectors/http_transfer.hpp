// test-1 over HTTP, shared by the HTTP connectors (rpc, Supabase REST, Convex). Each transfer is
// one JSON POST on a keep-alive connection (HttpConnection), one request in flight per session;
// the systems differ only in the path, the extra headers, the body and how a reply reads
// (JsonPost). HttpTransferConnector holds what every such connector has: the URL, its resolved
// endpoints, the TLS client and the sessions' factory. The request object is built once per
// session; each transfer only rewrites its body.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connectors/connector.hpp"
#include "net/http_connection.hpp"

namespace loadbench {

class HttpTransferProtocol {
public:
    virtual ~HttpTransferProtocol() = default;
    // Once per session: method, target, headers.
    virtual void prepare(HttpRequest& request) const = 0;
    // Per transfer: the body (prepare_payload() is called after).
    virtual void fill(const Transfer& t, std::string& body) const = 0;
    // What the reply means; on failure sets `error` to a one-line, secret-free message.
    virtual Attempt interpret(const HttpResponse& response, std::string& error) const = 0;
};

// One system's transfer as a JSON POST to <url's base path><path>.
struct JsonPost {
    std::string path;                                         // e.g. "/rpc"
    std::vector<std::pair<std::string, std::string>> headers;  // beyond Host and Content-Type
    std::string (*body)(const Transfer&) = nullptr;
    // The reply (status, body) as an attempt; `error` gets a one-line message on failure.
    Attempt (*interpret)(unsigned status, const std::string& body, std::string& error) = nullptr;
};

std::shared_ptr<const HttpTransferProtocol> make_json_post_protocol(const HttpUrl& url, JsonPost post);

// Opens one session on `io` (connects, then done.opened or done.open_failed).
void open_http_transfer_session(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints,
                                std::shared_ptr<const HttpTransferProtocol> protocol, AsyncTransferOpenCallback& done,
                                std::shared_ptr<TlsClient> tls = nullptr);

// A connector whose test-1 sessions are JSON POSTs on an event loop. The derived constructor
// sets the protocol (set_transfer) and then resolves the host (resolve), so that its own options
// are checked first and no event loop waits on a name lookup.
class HttpTransferConnector : public Connector, public EventLoopTransferSessions {
public:
    bool is_async() const final { return true; }
    EventLoopTransferSessions* event_loop_transfer_sessions() final { return this; }
    void open_async_transfer_session(asio::io_context& io, std::size_t index, AsyncTransferOpenCallback& done) final;

protected:
    explicit HttpTransferConnector(HttpUrl url) : url_(std::move(url)), tls_(make_tls_client(url_)) {}
    void set_transfer(JsonPost post) { protocol_ = make_json_post_protocol(url_, std::move(post)); }
    void resolve() { endpoints_.resolve(url_); }

    HttpUrl url_;
    std::shared_ptr<TlsClient> tls_;  // https only

private:
    SharedEndpoints endpoints_;
    std::shared_ptr<const HttpTransferProtocol> protocol_;
};

// A reply's status class as the engine sees it: 429 and 503 are busy (retryable), other 5xx and
// 4xx are the caller's to interpret; returns ErrorKind::none for 2xx.
ErrorKind http_status_kind(unsigned status);

// The first line of `text`, at most 200 characters (error messages from servers).
std::string one_line(const std::string& text);

}  // namespace loadbench
