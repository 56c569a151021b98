// A test-1 transfer session over HTTP: one keep-alive connection (HttpConnection), one request in
// flight, framed by an HttpTransferProtocol (the system's API: rpc, Supabase REST, Convex). The
// request object is built once per session; each transfer only rewrites its body.
#pragma once

#include <memory>
#include <string>

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

// Opens one session on `io` (connects, then done.opened or done.open_failed).
void open_http_transfer_session(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints,
                                std::shared_ptr<const HttpTransferProtocol> protocol, AsyncTransferOpenCallback& done,
                                std::shared_ptr<TlsClient> tls = nullptr);

// A reply's status class as the engine sees it: 429 and 503 are busy (retryable), other 5xx and
// 4xx are the caller's to interpret; returns ErrorKind::none for 2xx.
ErrorKind http_status_kind(unsigned status);

// The first line of `text`, at most 200 characters (error messages from servers).
std::string one_line(const std::string& text);

}  // namespace loadbench
