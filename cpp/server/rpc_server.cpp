#include "server/rpc_server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <optional>

namespace loadbench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

namespace {

// A finished call: HTTP status and JSON body.
struct Reply {
    unsigned status = 200;
    std::string body;
};

Reply ok_reply(const json& result = nullptr) {
    if (result.is_null()) return {200, R"({"ok":true})"};
    return {200, json{{"ok", true}, {"result", result}}.dump()};
}

Reply error_reply(const std::string& message, ErrorKind kind = ErrorKind::other, unsigned status = 500) {
    json body{{"ok", false}, {"error", message}};
    if (kind != ErrorKind::other && kind != ErrorKind::none) body["kind"] = std::string(error_kind_name(kind));
    return {status, body.dump()};
}

Reply attempt_reply(const Attempt& a, const std::string& error) {
    if (a.outcome == Outcome::committed) return ok_reply();
    if (a.outcome == Outcome::rejected) return {200, R"({"ok":true,"result":{"transferred":false}})"};
    return error_reply(error.empty() ? std::string(error_kind_name(a.error)) : error, a.error);
}

std::optional<std::int64_t> int_arg(const json& args, const char* name, const char* alias = nullptr) {
    auto it = args.find(name);
    if (it == args.end() && alias) it = args.find(alias);
    if (it == args.end()) return std::nullopt;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (it->is_number_float()) {
        const double d = it->get<double>();
        if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
        return std::nullopt;
    }
    if (it->is_string()) {
        try {
            std::size_t used = 0;
            const std::string s = it->get<std::string>();
            const long long v = std::stoll(s, &used);
            if (used == s.size()) return v;
        } catch (...) {
        }
    }
    return std::nullopt;
}

}  // namespace

// One event-loop thread: its io_context and its database sessions.
struct RpcServer::Lane {
    using Done = std::function<void(Attempt, std::string)>;

    // A transfer waiting for, or running on, a pooled event-loop session.
    struct Pending final : AttemptCallback {
        Lane* lane = nullptr;
        Transfer t;
        int tries = 0;
        Done done;
        AsyncTransferSession* session = nullptr;
        void attempt_done(Attempt a) override { lane->attempt_done(this, a); }
    };

    // Owns itself until the connector reports the open.
    struct Opener final : AsyncTransferOpenCallback {
        Lane* lane = nullptr;
        void opened(std::unique_ptr<AsyncTransferSession> s) override {
            lane->opening--;
            lane->sessions.push_back(std::move(s));
            lane->idle.push_back(lane->sessions.back().get());
            lane->dispatch();
            delete this;
        }
        void open_failed(std::string error) override {
            lane->opening--;
            lane->open_error = error;
            if (lane->sessions.empty() && lane->opening == 0) lane->fail_queue("cannot open a database session: " + error);
            delete this;
        }
    };

    RpcServer& server;
    asio::io_context io{1};
    std::thread thread;
    std::unique_ptr<TransferSession> blocking;  // blocking connectors: this thread's session
    std::vector<std::unique_ptr<AsyncTransferSession>> sessions;
    std::vector<AsyncTransferSession*> idle;
    std::deque<std::unique_ptr<Pending>> queue;  // waiting for an idle session
    std::size_t pool = 1;
    std::size_t opening = 0;
    std::string open_error;

    explicit Lane(RpcServer& s) : server(s) {}

    void transfer(const Transfer& t, Done done) {
        if (!server.event_loop_) return transfer_blocking(t, std::move(done));
        auto p = std::make_unique<Pending>();
        p->lane = this;
        p->t = t;
        p->done = std::move(done);
        queue.push_back(std::move(p));
        if (idle.empty() && sessions.size() + opening < pool) {
            ++opening;
            auto* opener = new Opener;
            opener->lane = this;
            server.event_loop_->open_async_transfer_session(io, server.session_index_.fetch_add(1), *opener);
        }
        dispatch();
    }

    void transfer_blocking(const Transfer& t, const Done& done) {
        try {
            if (!blocking) blocking = server.blocking_->open_transfer_session();
        } catch (const std::exception& e) {
            return done(Attempt::failed(ErrorKind::other), e.what());
        }
        Attempt a;
        for (int tries = 1;; ++tries) {
            a = blocking->transfer(t);
            if (!(a.outcome == Outcome::failed && a.retryable && tries < server.config_.max_tries)) break;
        }
        done(a, a.outcome == Outcome::failed ? blocking->last_error() : std::string());
    }

    void dispatch() {
        while (!idle.empty() && !queue.empty()) {
            Pending* p = queue.front().release();
            queue.pop_front();
            p->session = idle.back();
            idle.pop_back();
            p->tries = 1;
            p->session->transfer(p->t, *p);
        }
    }

    void attempt_done(Pending* p, Attempt a) {
        if (a.outcome == Outcome::failed && a.retryable && p->tries < server.config_.max_tries) {
            ++p->tries;
            // Retried after the current handler returns (a session must not be re-entered).
            return asio::post(io, [p] { p->session->transfer(p->t, *p); });
        }
        const std::string error = a.outcome == Outcome::failed ? p->session->last_error() : std::string();
        idle.push_back(p->session);
        std::unique_ptr<Pending> owned(p);
        owned->done(a, error);
        dispatch();
    }

    void fail_queue(const std::string& error) {
        auto waiting = std::move(queue);
        queue.clear();
        for (auto& p : waiting) p->done(Attempt::failed(ErrorKind::connection), error);
    }

    void shutdown() {
        for (auto& s : sessions) s->shutdown();
    }
};

// One accepted HTTP connection, on its lane's thread: read a request, answer it, repeat.
class RpcServer::Connection : public std::enable_shared_from_this<RpcServer::Connection> {
public:
    Connection(RpcServer& server, Lane& lane, tcp::socket socket)
        : server_(server), lane_(lane), socket_(std::move(socket)) {}

    void start() { read(); }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(1 << 20);
        http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->close();
            self->handle(self->parser_->release());
        });
    }

    void handle(http::request<http::string_body> request) {
        server_.requests_.fetch_add(1, std::memory_order_relaxed);
        keep_alive_ = request.keep_alive();
        if (request.target() == "/" && request.method() == http::verb::get)
            return respond({200, R"({"ok":true,"result":{"server":"loadbench rpc-server"}})"});
        const auto target = request.target();
        const bool rpc_path = target == "/rpc" || target.starts_with("/rpc?");
        if (!rpc_path) return respond({404, R"({"ok":false,"error":"not found"})"});
        if (request.method() != http::verb::post) return respond({405, R"({"ok":false,"error":"use POST"})"});
        const json body = json::parse(request.body(), nullptr, false);
        if (!body.is_object()) return respond({400, R"({"ok":false,"error":"invalid json"})"});
        const auto name_it = body.find("name");
        if (name_it == body.end() || !name_it->is_string()) return respond(error_reply("missing name"));
        const std::string name = name_it->get<std::string>();
        static const json empty = json::object();
        const auto args_it = body.find("args");
        const json& args = args_it != body.end() && args_it->is_object() ? *args_it : empty;

        if (name == "health") return respond(ok_reply({{"status", "ok"}}));
        if (name == "transfer") return transfer(args);
        if (name == "seed" || name == "verify") return control(name, args);
        respond(error_reply("unknown method: " + name));
    }

    void transfer(const json& args) {
        const auto from = int_arg(args, "from_id", "from"), to = int_arg(args, "to_id", "to");
        const auto amount = int_arg(args, "amount");
        if (!from || !to || !amount || *from < 0 || *to < 0) return respond(error_reply("invalid transfer args"));
        if (*from == *to || *amount <= 0) return respond(ok_reply());  // nothing to move (as the keynote servers)
        const Transfer t{static_cast<std::uint64_t>(*from) + 1, static_cast<std::uint64_t>(*to) + 1, *amount};
        lane_.transfer(t, [self = shared_from_this()](Attempt a, std::string error) {
            self->respond(attempt_reply(a, error));
        });
    }

    // seed and verify run on a thread of their own (seconds of work), then answer on the lane.
    // A verify that leaves out accounts or initialBalance (a bare `{"name":"verify","args":{}}`,
    // as keynote-2's scripts send) checks against what this server last seeded, as the keynote
    // servers check against their own seeded values.
    void control(const std::string& name, const json& args) {
        AccountsSpec spec;
        const bool bare_verify = name == "verify" && !args.contains("accounts") && !args.contains("initialBalance") &&
                                 !args.contains("initial_balance");
        if (bare_verify) {
            const auto seeded = server_.seeded();
            if (!seeded)
                return respond(error_reply("verify: this server has seeded nothing yet: give accounts and initialBalance",
                                           ErrorKind::other, 400));
            spec = *seeded;
        } else {
            const auto accounts = int_arg(args, "accounts");
            const auto initial = int_arg(args, "initialBalance", "initial_balance");
            if (!accounts || *accounts < 1) return respond(error_reply(name + ": missing or invalid accounts"));
            if (!initial || *initial < 0) return respond(error_reply(name + ": missing or invalid initialBalance"));
            spec.accounts = static_cast<std::uint64_t>(*accounts);
            spec.initial_balance = *initial;
        }
        std::thread([self = shared_from_this(), name, spec] {
            Reply reply;
            try {
                if (name == "seed") {
                    self->server_.backend_->prep_accounts(spec);
                    self->server_.remember_seeded(spec);
                    reply = ok_reply({{"accounts", spec.accounts}, {"initialBalance", spec.initial_balance}});
                } else {
                    const auto check = self->server_.backend_->verify_accounts(spec);
                    if (!check) {
                        reply = ok_reply({{"skipped", true}});
                    } else {
                        json result = {{"accounts", check->accounts},
                                       {"total", check->total},
                                       {"expected", check->expected_total},
                                       {"negative", check->negative_balances},
                                       {"passed", check->passed}};
                        if (check->changed) result["changed"] = *check->changed;
                        reply = ok_reply(std::move(result));
                    }
                }
            } catch (const std::exception& e) {
                reply = error_reply(name + ": " + e.what());
            }
            asio::post(self->lane_.io, [self, reply = std::move(reply)] { self->respond(reply); });
        }).detach();
    }

    void respond(const Reply& reply) {
        response_ = {};
        response_.version(11);
        response_.result(reply.status);
        response_.set(http::field::content_type, "application/json");
        response_.keep_alive(keep_alive_);
        response_.body() = reply.body;
        response_.prepare_payload();
        http::async_write(socket_, response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec || !self->keep_alive_) return self->close();
            self->read();
        });
    }

    void close() {
        beast::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
        socket_.close(ignored);
    }

    RpcServer& server_;
    Lane& lane_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    bool keep_alive_ = true;
};

struct RpcServer::Listener {
    tcp::acceptor acceptor;
    explicit Listener(asio::io_context& io) : acceptor(io) {}
};

RpcServer::RpcServer(RpcServerConfig config, std::shared_ptr<Connector> backend)
    : config_(std::move(config)), backend_(std::move(backend)) {
    if (backend_->is_async())
        event_loop_ = backend_->event_loop_transfer_sessions();
    else
        blocking_ = backend_->blocking_transfer_sessions();
    if (!event_loop_ && !blocking_)
        throw ConnectorConfigError(backend_->describe() + " runs no test-1 transfers: it cannot back the rpc server");
    std::size_t n = config_.threads ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
    const std::size_t pool = config_.pool ? config_.pool : 8 * n;
    for (std::size_t i = 0; i < n; ++i) {
        lanes_.push_back(std::make_unique<Lane>(*this));
        lanes_.back()->pool = std::max<std::size_t>(1, pool / n + (i < pool % n ? 1 : 0));
    }
    listener_ = std::make_unique<Listener>(lanes_[0]->io);
}

RpcServer::~RpcServer() {
    stop();
    signals_.reset();
    for (auto& lane : lanes_)
        if (lane->thread.joinable()) lane->thread.join();
}

unsigned short RpcServer::bind() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(config_.host, ec);
    if (ec) throw ConnectorConfigError("rpc-server: invalid listen address '" + config_.host + "'");
    const tcp::endpoint endpoint(address, config_.port);
    auto& a = listener_->acceptor;
    a.open(endpoint.protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw ConnectorError("rpc-server: cannot listen on " + config_.host + ":" + std::to_string(config_.port) + ": " +
                             ec.message());
    return a.local_endpoint().port();
}

void RpcServer::accept() {
    Lane& lane = *lanes_[next_lane_];
    next_lane_ = (next_lane_ + 1) % lanes_.size();
    listener_->acceptor.async_accept(lane.io, [this, &lane](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !listener_->acceptor.is_open()) return;
        if (!ec) {
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            // The connection lives on its lane's thread from here.
            asio::post(lane.io, [this, &lane, s = std::make_shared<tcp::socket>(std::move(socket))]() mutable {
                std::make_shared<Connection>(*this, lane, std::move(*s))->start();
            });
        } else if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
            // Out of file descriptors: back off a little instead of spinning.
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        accept();
    });
}

struct RpcServer::Signals {
    asio::signal_set set;
    explicit Signals(asio::io_context& io) : set(io, SIGINT, SIGTERM) {}
};

void RpcServer::stop_on_signals() {
    signals_ = std::make_unique<Signals>(lanes_[0]->io);
    signals_->set.async_wait([this](const boost::system::error_code& ec, int) {
        if (!ec) stop();
    });
}

void RpcServer::serve() {
    accept();
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& lane : lanes_) guards.push_back(asio::make_work_guard(lane->io));
    for (std::size_t i = 1; i < lanes_.size(); ++i) lanes_[i]->thread = std::thread([lane = lanes_[i].get()] { lane->io.run(); });
    lanes_[0]->io.run();
    for (std::size_t i = 1; i < lanes_.size(); ++i)
        if (lanes_[i]->thread.joinable()) lanes_[i]->thread.join();
    for (auto& lane : lanes_) lane->shutdown();
}

void RpcServer::stop() {
    for (auto& lane : lanes_) lane->io.stop();
}

}  // namespace loadbench
