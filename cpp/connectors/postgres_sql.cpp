// SQL scenarios on the PostgreSQL-protocol connectors. The load runs on PgConnection (asynchronous,
// pipelined when every operation is one statement); the control plane (check, schema, seeding,
// verification) on blocking libpq connections, which take any number of typed-as-text parameters
// and NULLs, as libpqxx 6's interface does not.
#include <libpq-fe.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <optional>

#include "connectors/pg_connection.hpp"
#include "connectors/postgres_connector.hpp"
#include "net/system_error.hpp"

namespace loadbench {
namespace {

const PgStatement kSqlBegin{"lb_sql_begin", "BEGIN"};
const PgStatement kSqlCommit{"lb_sql_commit", "COMMIT"};
const PgStatement kSqlRollback{"lb_sql_rollback", "ROLLBACK"};

std::string statement_name(std::size_t i) { return "lb_q" + std::to_string(i); }

// One blocking libpq connection of the control plane.
class PgBlocking {
public:
    PgBlocking(const std::string& url, const std::vector<std::string>& setup) : conn_(PQconnectdb(pg_conninfo_with_connect_timeout(url).c_str())) {
        if (PQstatus(conn_) != CONNECTION_OK)
            throw ConnectorError("cannot connect: " + explain_resource_errors(pg_first_line(PQerrorMessage(conn_))));
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
        for (const std::string& sql : setup) check(exec(sql), sql);
    }
    ~PgBlocking() { PQfinish(conn_); }
    PgBlocking(const PgBlocking&) = delete;
    PgBlocking& operator=(const PgBlocking&) = delete;

    struct Result {
        PGresult* res;
        explicit Result(PGresult* r) : res(r) {}
        ~Result() { PQclear(res); }
        Result(const Result&) = delete;
        Result& operator=(const Result&) = delete;
        bool ok() const {
            const ExecStatusType s = PQresultStatus(res);
            return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
        }
        // The server's own sentence, without libpq's "ERROR:  " prefix.
        std::string message() const {
            const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            return pg_first_line(primary ? primary : PQresultErrorMessage(res));
        }
    };

    Result exec(const std::string& sql) { return Result(PQexec(conn_, sql.c_str())); }
    Result prepare(const std::string& name, const std::string& sql) {
        return Result(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr));
    }
    Result exec_prepared(const std::string& name, const PgTextParams& params) {
        return Result(PQexecPrepared(conn_, name.c_str(), params.count(), params.data(), nullptr, nullptr, 0));
    }
    PGconn* get() const { return conn_; }
    // From another thread: the wait in progress ends (the socket is shut down; the call fails).
    void interrupt() noexcept {
        const int fd = PQsocket(conn_);
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }

    static void check(const Result& r, const std::string& what) {
        if (!r.ok()) throw ConnectorError(what + ": " + r.message());
    }

private:
    PGconn* conn_;
};

SqlReply reply_of(const PgBlocking::Result& r, std::string& last_error) {
    if (r.ok()) {
        const char* rows = PQcmdTuples(r.res);
        return {true, ErrorKind::none, false, rows && *rows ? std::strtoll(rows, nullptr, 10) : 0};
    }
    last_error = r.message();
    PgReply classified;
    classify_pg_error(PQresultErrorField(r.res, PG_DIAG_SQLSTATE), classified);
    return SqlReply::failed(classified.error, classified.retryable);
}

class PgBlockingSqlSession final : public SqlSession {
public:
    PgBlockingSqlSession(const std::string& url, const std::vector<std::string>& setup,
                         const std::vector<std::string>& statements)
        : conn_(url, setup) {
        for (std::size_t i = 0; i < statements.size(); ++i) {
            names_.push_back(statement_name(i));
            PgBlocking::check(conn_.prepare(names_.back(), statements[i]),
                              "statement " + std::to_string(i + 1) + " does not prepare");
        }
    }

    SqlReply execute(std::size_t statement, std::span<const SqlValue> values) override {
        params_.set(values);
        return reply_of(conn_.exec_prepared(names_[statement], params_), last_error_);
    }
    SqlReply control(SqlControl what) override {
        return reply_of(conn_.exec(what == SqlControl::begin ? "BEGIN" : what == SqlControl::commit ? "COMMIT" : "ROLLBACK"),
                        last_error_);
    }
    std::string last_error() const override { return last_error_; }
    void interrupt() noexcept override { conn_.interrupt(); }

private:
    PgBlocking conn_;
    std::vector<std::string> names_;
    PgTextParams params_;
    std::string last_error_;
};

// A load session: one request at a time on its group's connection.
class PgAsyncSqlSession final : public AsyncSqlSession, public PgRequest {
public:
    PgAsyncSqlSession(std::shared_ptr<PgConnection> conn, std::size_t statements) : conn_(std::move(conn)) {
        for (std::size_t i = 0; i < statements; ++i) names_.push_back(statement_name(i));
    }

    void execute(std::size_t statement_index, std::span<const SqlValue> values, SqlReplyCallback& done) override {
        done_ = &done;
        control_.reset();
        statement = names_[statement_index].c_str();
        set_values(values);
        conn_->submit(*this);
    }
    void control(SqlControl what, SqlReplyCallback& done) override {
        done_ = &done;
        control_ = what;
        // A connection lost or abandoned since BEGIN took the transaction with it: a ROLLBACK
        // would only wait for the reconnect (after a timeout, for a server that may never answer).
        if (what == SqlControl::rollback && conn_->incarnation() != transaction_incarnation_) {
            asio::post(conn_->io(), [this] { done_->sql_done({}); });
            return;
        }
        statement = (what == SqlControl::begin ? kSqlBegin : what == SqlControl::commit ? kSqlCommit : kSqlRollback).name.c_str();
        set_params({});
        conn_->submit(*this);
    }
    void complete(const PgReply& reply) override {
        if (!reply.ok) last_error_ = reply.message;
        if (reply.ok && control_ == SqlControl::begin) transaction_incarnation_ = conn_->incarnation();
        control_.reset();
        done_->sql_done({reply.ok, reply.error, reply.retryable, reply.rows_affected});
    }
    void attempt_ended() noexcept override { PgRequest::attempt_ended(); }
    void interrupt() noexcept override { conn_->interrupt(*this); }
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    std::shared_ptr<PgConnection> conn_;
    std::vector<std::string> names_;
    SqlReplyCallback* done_ = nullptr;
    std::optional<SqlControl> control_;  // the control statement in flight, if any
    std::uint64_t transaction_incarnation_ = 0;  // the connection's, when BEGIN succeeded
    std::string last_error_;
};

}  // namespace

// The scratch copy: a schema of our own, first on the search path, inside a transaction that is
// rolled back, so unqualified CREATE TABLEs land there and nothing outside changes.
std::optional<SqlCheckFailure> PostgresConnector::sql_check(const std::vector<std::string>& script,
                                                            const std::vector<std::string>& statements) {
    PgBlocking conn(options_.url, {"SET client_min_messages = warning"});
    const auto cancel = on_cancel([&conn] { conn.interrupt(); });
    PgBlocking::check(conn.exec("BEGIN"), "check");
    PgBlocking::check(conn.exec("CREATE SCHEMA loadbench_check"), "check");
    PgBlocking::check(conn.exec("SET LOCAL search_path = loadbench_check, public"), "check");
    std::optional<SqlCheckFailure> failure;
    for (std::size_t i = 0; i < script.size() && !failure; ++i) {
        auto r = conn.exec(script[i]);
        if (!r.ok()) failure = SqlCheckFailure{true, i, r.message()};
    }
    for (std::size_t i = 0; i < statements.size() && !failure; ++i) {
        auto r = conn.prepare(statement_name(i), statements[i]);
        if (!r.ok()) failure = SqlCheckFailure{false, i, r.message()};
    }
    conn.exec("ROLLBACK");
    return failure;
}

void PostgresConnector::sql_execute(const std::vector<std::string>& script) {
    PgBlocking conn(options_.url, {"SET client_min_messages = warning"});
    const auto cancel = on_cancel([&conn] { conn.interrupt(); });
    for (const std::string& sql : script) PgBlocking::check(conn.exec(sql), "schema");
}

SqlRows PostgresConnector::sql_query(const std::string& sql) {
    PgBlocking conn(options_.url, {});
    const auto cancel = on_cancel([&conn] { conn.interrupt(); });
    auto r = conn.exec(sql);
    PgBlocking::check(r, "query");
    SqlRows rows(static_cast<std::size_t>(PQntuples(r.res)));
    for (int i = 0; i < PQntuples(r.res); ++i)
        for (int c = 0; c < PQnfields(r.res); ++c)
            rows[i].push_back(PQgetisnull(r.res, i, c) ? std::nullopt
                                                        : std::optional<std::string>(PQgetvalue(r.res, i, c)));
    return rows;
}

std::unique_ptr<SqlSession> PostgresConnector::open_sql_session(const std::vector<std::string>& statements) {
    return std::make_unique<PgBlockingSqlSession>(options_.url, connection_setup(), statements);
}

void PostgresConnector::open_async_sql_session(asio::io_context& io, std::size_t index,
                                               const std::vector<std::string>& statements, AsyncSqlOpenCallback& done) {
    std::vector<PgStatement> prepared;
    for (std::size_t i = 0; i < statements.size(); ++i) prepared.push_back({statement_name(i), statements[i]});
    prepared.insert(prepared.end(), {kSqlBegin, kSqlCommit, kSqlRollback});
    open_in_group(io, index, std::move(prepared),
                  [&done, n = statements.size()](const std::shared_ptr<PgConnection>& conn, const std::string& error) {
                      if (!error.empty()) return done.open_failed(error);
                      done.opened(std::make_unique<PgAsyncSqlSession>(conn, n));
                  });
}

}  // namespace loadbench
