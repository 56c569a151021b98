#include "connectors/http_transfer.hpp"

#include <boost/asio/post.hpp>

namespace loadbench {
namespace {

class HttpTransferSession final : public AsyncTransferSession, public HttpResponseHandler {
public:
    HttpTransferSession(std::shared_ptr<HttpConnection> conn, std::shared_ptr<const HttpTransferProtocol> protocol,
                        HttpRequest prepared)
        : conn_(std::move(conn)), protocol_(std::move(protocol)), request_(std::move(prepared)) {}

    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        protocol_->fill(t, request_.body());
        request_.prepare_payload();
        conn_->send(request_, *this);
    }
    void on_response(const HttpResponse& response) override {
        std::string error;
        const Attempt attempt = protocol_->interpret(response, error);
        if (attempt.outcome == Outcome::failed) last_error_ = error;
        done_->attempt_done(attempt);
    }
    void on_failure(ErrorKind kind, const std::string& message) override {
        last_error_ = message;
        done_->attempt_done(Attempt::failed(kind, false));
    }
    void interrupt() noexcept override { conn_->interrupt(); }
    void shutdown() override { conn_->close(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    std::shared_ptr<HttpConnection> conn_;
    std::shared_ptr<const HttpTransferProtocol> protocol_;
    HttpRequest request_;
    AttemptCallback* done_ = nullptr;
    std::string last_error_;
};

class JsonPostProtocol final : public HttpTransferProtocol {
public:
    JsonPostProtocol(const HttpUrl& url, JsonPost post)
        : target_(url.base_path + post.path), host_(url.host_header()), post_(std::move(post)) {}
    void prepare(HttpRequest& request) const override {
        request.method(http::verb::post);
        request.target(target_);
        request.set(http::field::host, host_);
        request.set(http::field::content_type, "application/json");
        for (const auto& [name, value] : post_.headers) request.set(name, value);
    }
    void fill(const Transfer& t, std::string& body) const override { body = post_.body(t); }
    Attempt interpret(const HttpResponse& response, std::string& error) const override {
        return post_.interpret(response.result_int(), response.body(), error);
    }

private:
    std::string target_, host_;
    JsonPost post_;
};

}  // namespace

std::shared_ptr<const HttpTransferProtocol> make_json_post_protocol(const HttpUrl& url, JsonPost post) {
    return std::make_shared<JsonPostProtocol>(url, std::move(post));
}

void HttpTransferConnector::open_async_transfer_session(asio::io_context& io, std::size_t,
                                                        AsyncTransferOpenCallback& done) {
    std::string error;
    const auto endpoints = endpoints_.get(url_, error);
    if (!endpoints) return asio::post(io, [&done, error] { done.open_failed(error); });
    open_http_transfer_session(io, endpoints, protocol_, done, tls_);
}

void open_http_transfer_session(asio::io_context& io, std::shared_ptr<const TcpEndpoints> endpoints,
                                std::shared_ptr<const HttpTransferProtocol> protocol, AsyncTransferOpenCallback& done,
                                std::shared_ptr<TlsClient> tls) {
    auto conn = std::make_shared<HttpConnection>(io, std::move(endpoints), std::move(tls));
    conn->open([conn, protocol = std::move(protocol), &done](std::string error) {
        if (!error.empty()) return done.open_failed(error);
        HttpRequest request;
        request.version(11);
        protocol->prepare(request);
        done.opened(std::make_unique<HttpTransferSession>(conn, protocol, std::move(request)));
    });
}

ErrorKind http_status_kind(unsigned status) {
    if (status >= 200 && status < 300) return ErrorKind::none;
    if (status == 429 || status == 503) return ErrorKind::busy;
    if (status == 408 || status == 504) return ErrorKind::timeout;
    return ErrorKind::other;
}

std::string one_line(const std::string& text) {
    std::string s = text.substr(0, text.find('\n'));
    if (s.size() > 200) s = s.substr(0, 200) + "...";
    return s;
}

}  // namespace loadbench
