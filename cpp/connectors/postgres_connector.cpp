#include "connectors/postgres_connector.hpp"

#include "connectors/registry.hpp"

#include <pqxx/pqxx>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <map>
#include <mutex>

#include "connectors/options.hpp"
#include "connectors/pg_connection.hpp"
#include "net/system_error.hpp"

namespace loadbench {
namespace {

// One round trip per transfer. Rows are locked lower id first, so concurrent transfers never
// deadlock among themselves: when `to` is the lower id, it is locked before `from` is debited.
// Returns false, changing nothing, when `from` cannot cover the amount.
constexpr const char* kTransferFunction = R"sql(
CREATE OR REPLACE FUNCTION transfer(p_from bigint, p_to bigint, p_amount bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_to < p_from THEN
    PERFORM 1 FROM accounts WHERE id = p_to FOR UPDATE;
  END IF;
  UPDATE accounts SET balance = balance - p_amount WHERE id = p_from AND balance >= p_amount;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  UPDATE accounts SET balance = balance + p_amount WHERE id = p_to;
  RETURN true;
END $$)sql";

// --audit (scenarios/transfer_audit.hpp): the same transfer, and its ledger row in the same
// transaction when it commits. The ledger is created empty by every prep.
constexpr const char* kAuditedTransferFunction = R"sql(
CREATE OR REPLACE FUNCTION transfer_audited(p_from bigint, p_to bigint, p_amount bigint, p_op bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT transfer(p_from, p_to, p_amount) THEN
    RETURN false;
  END IF;
  INSERT INTO audit_ledger (op_id, from_id, to_id, amount) VALUES (p_op, p_from, p_to, p_amount);
  RETURN true;
END $$)sql";
constexpr const char* kLedgerTable =
    "CREATE TABLE audit_ledger (op_id bigint PRIMARY KEY, from_id bigint NOT NULL, to_id bigint NOT NULL, "
    "amount bigint NOT NULL)";

const PgStatement kCallTransfer{"lb_transfer", "SELECT transfer($1::bigint, $2::bigint, $3::bigint)"};
const PgStatement kCallTransferAudited{"lb_transfer_audited",
                                       "SELECT transfer_audited($1::bigint, $2::bigint, $3::bigint, $4::bigint)"};
const PgStatement kLedgerInsert{"lb_ledger", "INSERT INTO audit_ledger (op_id, from_id, to_id, amount) VALUES ($1, $2, $3, $4)"};
const PgStatement kBegin{"lb_begin", "BEGIN"};
const PgStatement kDebit{"lb_debit", "UPDATE accounts SET balance = balance - $2 WHERE id = $1 AND balance >= $2"};
const PgStatement kCredit{"lb_credit", "UPDATE accounts SET balance = balance + $2 WHERE id = $1"};
const PgStatement kCommit{"lb_commit", "COMMIT"};
const PgStatement kRollback{"lb_rollback", "ROLLBACK"};

// `name=value;name=value` as SET statements. Names are checked and values quoted: they become SQL.
std::vector<std::string> parse_session_settings(const std::string& text) {
    std::vector<std::string> sets;
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t end = text.find(';', begin);
        if (end == std::string::npos) end = text.size();
        const std::string item = text.substr(begin, end - begin);
        begin = end + 1;
        if (item.empty()) continue;
        const auto eq = item.find('=');
        const std::string name = item.substr(0, eq);
        const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
        });
        if (eq == std::string::npos || !name_ok)
            throw ConnectorError("session_settings: expected name=value, got '" + item + "'");
        std::string value;
        for (char c : item.substr(eq + 1)) value += c == '\'' ? std::string("''") : std::string(1, c);
        sets.push_back("SET " + name + " = '" + value + "'");
    }
    return sets;
}

PgOptions parse_options(const ConnectorOptions& options) {
    PgOptions o;
    o.url = option_required(options, "url");
    const std::string flavor = option_string(options, "flavor", "postgres");
    if (flavor != "postgres" && flavor != "cockroachdb")
        throw ConnectorError("flavor must be postgres or cockroachdb, got '" + flavor + "'");
    o.cockroachdb = flavor == "cockroachdb";
    const std::string mode = option_string(options, "mode", "function");
    if (mode != "function" && mode != "statements")
        throw ConnectorError("mode must be function or statements, got '" + mode + "'");
    o.function_mode = mode == "function";
    const std::string isolation = option_string(options, "isolation", o.cockroachdb ? "serializable" : "read_committed");
    if (isolation != "read_committed" && isolation != "serializable")
        throw ConnectorError("isolation must be read_committed or serializable, got '" + isolation + "'");
    o.serializable = isolation == "serializable";
    o.inflight = static_cast<std::size_t>(option_int(options, "inflight", 1, 1, 1024));
    o.session_settings = parse_session_settings(option_string(options, "session_settings", ""));
    if (o.inflight > 1 && !o.function_mode)
        throw ConnectorError("inflight > 1 (pipelining) needs mode=function: a statements-mode transfer waits on each reply");
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(o.url.c_str(), &error);
    if (!parsed) {
        std::string message = error ? error : "cannot parse the connection URL";
        PQfreemem(error);
        while (!message.empty() && message.back() == '\n') message.pop_back();
        throw ConnectorConfigError("invalid connection URL: " + message);
    }
    PQconninfoFree(parsed);
    // Looked up here, before any load, on the caller's thread: not on an event loop at every reconnect.
    o.session_conninfo = pg_conninfo_with_addresses(o.url);
    return o;
}

// Authentication and authorization failures are the user's configuration, not the system's fault.
[[noreturn]] void rethrow_pqxx(const std::string& what) {
    try {
        throw;
    } catch (const pqxx::sql_error& e) {
        const std::string& state = e.sqlstate();
        std::string message = e.what();
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        if (state.rfind("28", 0) == 0 || state == "3D000") throw ConnectorConfigError(what + ": " + message);
        throw ConnectorError(what + ": " + message);
    } catch (const pqxx::broken_connection& e) {
        std::string message = e.what();
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        const auto nl = message.find('\n');
        if (nl != std::string::npos) message = message.substr(0, nl);
        if (message.find("authentication failed") != std::string::npos ||
            message.find("does not exist") != std::string::npos)
            throw ConnectorConfigError(what + ": " + message);
        throw ConnectorError(what + ": " + explain_resource_errors(message));
    } catch (const pqxx::failure& e) {
        throw ConnectorError(what + ": " + std::string(e.what()));
    }
}

// Session of function mode: one request per transfer; sessions of a pipeline group share a connection.
class FunctionSession final : public AsyncTransferSession, public PgRequest {
public:
    explicit FunctionSession(std::shared_ptr<PgConnection> conn) : conn_(std::move(conn)) {
        statement = kCallTransfer.name.c_str();
    }
    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        if (t.op_id != 0) {
            statement = kCallTransferAudited.name.c_str();
            set_params({static_cast<long long>(t.from_id), static_cast<long long>(t.to_id), t.amount,
                        static_cast<long long>(t.op_id)});
        } else {
            set_params({static_cast<long long>(t.from_id), static_cast<long long>(t.to_id), t.amount});
        }
        conn_->submit(*this);
    }
    void complete(const PgReply& reply) override {
        if (!reply.ok) last_error_ = reply.message;
        attempt_ended();
        done_->attempt_done(reply.ok ? (reply.first_value_true ? Attempt::committed() : Attempt::rejected())
                                     : Attempt::failed(reply.error, reply.retryable));
    }
    void interrupt() noexcept override { conn_->interrupt(*this); }
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    std::shared_ptr<PgConnection> conn_;
    AttemptCallback* done_ = nullptr;
    std::string last_error_;
};

// Session of statements mode: BEGIN, the two UPDATEs lower id first, COMMIT; ROLLBACK when the
// debit finds too little money (a rejection) or a statement fails inside the transaction.
class StatementsSession final : public AsyncTransferSession, public PgRequest {
public:
    explicit StatementsSession(std::shared_ptr<PgConnection> conn) : conn_(std::move(conn)) {}

    void transfer(const Transfer& t, AttemptCallback& done) override {
        done_ = &done;
        t_ = t;
        send(Step::begin, kBegin, {});
    }

    void complete(const PgReply& reply) override {
        if (!reply.ok) {
            last_error_ = reply.message;
            failure_ = Attempt::failed(reply.error, reply.retryable);
            // An error inside the transaction leaves it aborted: roll back before the next one.
            // (A failed COMMIT has ended it already, and a connection lost or abandoned since
            // BEGIN took it along: a ROLLBACK would only wait for the reconnect.)
            if (in_transaction_ && step_ != Step::commit && conn_->incarnation() == transaction_incarnation_)
                return send(Step::rollback_after_error, kRollback, {});
            return finish(failure_);
        }
        const auto from = static_cast<long long>(t_.from_id), to = static_cast<long long>(t_.to_id);
        switch (step_) {
            case Step::begin:
                in_transaction_ = true;
                transaction_incarnation_ = conn_->incarnation();
                return from < to ? send(Step::debit_first, kDebit, {from, t_.amount})
                                 : send(Step::credit_first, kCredit, {to, t_.amount});
            case Step::debit_first:
                if (reply.rows_affected == 0) return send(Step::rollback_rejected, kRollback, {});
                return send(Step::credit_second, kCredit, {to, t_.amount});
            case Step::credit_first:
                return send(Step::debit_second, kDebit, {from, t_.amount});
            case Step::debit_second:
                if (reply.rows_affected == 0) return send(Step::rollback_rejected, kRollback, {});
                return record_or_commit();
            case Step::credit_second:
                return record_or_commit();
            case Step::record:
                return send(Step::commit, kCommit, {});
            case Step::commit:
                return finish(Attempt::committed());
            case Step::rollback_rejected:
                return finish(Attempt::rejected());
            case Step::rollback_after_error:
                return finish(failure_);
        }
    }

    void interrupt() noexcept override { conn_->interrupt(*this); }
    void shutdown() override { conn_->release(); }
    std::string last_error() const override { return last_error_; }
    std::uint64_t reconnects() const override { return conn_->reconnects(); }

private:
    enum class Step { begin, debit_first, credit_first, debit_second, credit_second, record, commit, rollback_rejected, rollback_after_error };

    // --audit: the ledger row, in the transaction, before COMMIT.
    void record_or_commit() {
        if (t_.op_id == 0) return send(Step::commit, kCommit, {});
        send(Step::record, kLedgerInsert,
             {static_cast<long long>(t_.op_id), static_cast<long long>(t_.from_id), static_cast<long long>(t_.to_id),
              t_.amount});
    }

    void send(Step step, const PgStatement& statement_, std::initializer_list<long long> params) {
        step_ = step;
        statement = statement_.name.c_str();
        set_params(params);
        conn_->submit(*this);
    }
    void finish(Attempt attempt) {
        in_transaction_ = false;
        attempt_ended();
        done_->attempt_done(attempt);
    }

    std::shared_ptr<PgConnection> conn_;
    AttemptCallback* done_ = nullptr;
    Transfer t_;
    Step step_ = Step::begin;
    bool in_transaction_ = false;
    std::uint64_t transaction_incarnation_ = 0;  // the connection's, when BEGIN succeeded
    Attempt failure_;
    std::string last_error_;
};

}  // namespace

// Connections being opened or open, by pipeline group; sessions of one group open one connection.
// Only the group's sessions own it (the map's pointer is weak): a connection must go with the run
// whose event loop it lives on, not with the connector, which may outlive that loop.
struct PostgresConnector::Groups {
    struct Group {
        std::weak_ptr<PgConnection> conn;
        bool opening = false;
        bool open = false;
        std::string error;
        std::vector<GroupOpened> waiting;  // sessions of the group waiting for it to open
    };
    std::mutex mutex;
    std::map<std::size_t, Group> by_group;
};

PostgresConnector::PostgresConnector(const ConnectorOptions& options)
    : options_(parse_options(options)), groups_(std::make_unique<Groups>()) {}

PostgresConnector::~PostgresConnector() = default;

void PostgresConnector::check() {
    try {
        pqxx::connection c(pg_conninfo_with_connect_timeout(options_.url));
        const auto cancel = on_cancel([&c] { ::shutdown(c.sock(), SHUT_RDWR); });
        pqxx::nontransaction n(c);
        n.exec("SELECT 1");
    } catch (...) {
        rethrow_pqxx("cannot connect");
    }
}

void PostgresConnector::prep_accounts(const AccountsSpec& spec) {
    try {
        pqxx::connection c(pg_conninfo_with_connect_timeout(options_.url));
        const auto cancel = on_cancel([&c] { ::shutdown(c.sock(), SHUT_RDWR); });
        {
            pqxx::work w(c);
            w.exec("SET client_min_messages = warning");  // no NOTICE for the first DROP ... IF EXISTS
            w.exec("DROP TABLE IF EXISTS accounts");
            w.exec("DROP TABLE IF EXISTS audit_ledger");
            w.exec(kLedgerTable);
            // PostgreSQL loads faster without the index, then builds it; CockroachDB wants its primary key up front.
            w.exec(options_.cockroachdb ? "CREATE TABLE accounts (id INT8 PRIMARY KEY, balance INT8 NOT NULL)"
                                        : "CREATE TABLE accounts (id bigint NOT NULL, balance bigint NOT NULL)");
            pqxx::stream_to copy(w, "accounts");
            for (std::uint64_t id = 1; id <= spec.accounts; ++id)
                copy << std::make_tuple(static_cast<long long>(id), static_cast<long long>(spec.initial_balance));
            copy.complete();
            if (!options_.cockroachdb) w.exec("ALTER TABLE accounts ADD PRIMARY KEY (id)");
            if (options_.function_mode || !options_.cockroachdb) {
                w.exec(kTransferFunction);
                w.exec(kAuditedTransferFunction);
            }
            w.commit();
        }
        if (!options_.cockroachdb) {
            pqxx::nontransaction n(c);
            n.exec("VACUUM ANALYZE accounts");
        }
    } catch (...) {
        rethrow_pqxx("prep");
    }
}

std::optional<AccountsCheck> PostgresConnector::verify_accounts(const AccountsSpec& spec) {
    try {
        pqxx::connection c(pg_conninfo_with_connect_timeout(options_.url));
        const auto cancel = on_cancel([&c] { ::shutdown(c.sock(), SHUT_RDWR); });
        pqxx::nontransaction n(c);
        const pqxx::result r = n.exec(
            "SELECT count(*), coalesce(sum(balance), 0), coalesce(sum(CASE WHEN balance < 0 THEN 1 ELSE 0 END), 0), "
            "coalesce(sum(CASE WHEN balance <> " + std::to_string(spec.initial_balance) + " THEN 1 ELSE 0 END), 0) "
            "FROM accounts");
        AccountsCheck check;
        check.accounts = r[0][0].as<std::uint64_t>();
        check.total = r[0][1].as<std::int64_t>();
        check.negative_balances = r[0][2].as<std::uint64_t>();
        check.changed = r[0][3].as<std::uint64_t>();
        check.expected_total = static_cast<std::int64_t>(spec.accounts) * spec.initial_balance;
        check.passed = check.accounts == spec.accounts && check.total == check.expected_total &&
                       check.negative_balances == 0;
        return check;
    } catch (...) {
        rethrow_pqxx("verify");
    }
}

AuditLedger PostgresConnector::read_audit_ledger(const AccountsSpec& spec) {
    try {
        pqxx::connection c(pg_conninfo_with_connect_timeout(options_.url));
        const auto cancel = on_cancel([&c] { ::shutdown(c.sock(), SHUT_RDWR); });
        pqxx::nontransaction n(c);
        // The sessions' own settings (session_settings may set synchronous_commit), then read.
        for (const std::string& sql : connection_setup()) n.exec(sql);
        AuditLedger ledger;
        ledger.durability["fsync"] = n.exec("SHOW fsync")[0][0].as<std::string>();
        ledger.durability["synchronous_commit"] = n.exec("SHOW synchronous_commit")[0][0].as<std::string>();
        for (const auto& row : n.exec("SELECT op_id, from_id, to_id, amount FROM audit_ledger"))
            ledger.entries.push_back({row[0].as<std::uint64_t>(), row[1].as<std::uint64_t>(), row[2].as<std::uint64_t>(),
                                      row[3].as<std::int64_t>()});
        const std::size_t accounts = static_cast<std::size_t>(spec.accounts);
        ledger.balances.assign(accounts, 0);
        ledger.present.assign(accounts, false);
        for (const auto& row : n.exec("SELECT id, balance FROM accounts WHERE id BETWEEN 1 AND " +
                                      std::to_string(spec.accounts))) {
            const auto i = static_cast<std::size_t>(row[0].as<std::int64_t>() - 1);
            ledger.balances[i] = row[1].as<std::int64_t>();
            ledger.present[i] = true;
        }
        return ledger;
    } catch (...) {
        rethrow_pqxx("audit");
    }
}

std::vector<std::string> PostgresConnector::connection_setup() const {
    std::vector<std::string> setup = {"SET application_name = 'loadbench'",
                                      options_.serializable ? "SET default_transaction_isolation = 'serializable'"
                                                            : "SET default_transaction_isolation = 'read committed'"};
    setup.insert(setup.end(), options_.session_settings.begin(), options_.session_settings.end());
    return setup;
}

void PostgresConnector::open_async_transfer_session(asio::io_context& io, std::size_t index,
                                                    AsyncTransferOpenCallback& done) {
    std::vector<PgStatement> statements = options_.function_mode
                                              ? std::vector<PgStatement>{kCallTransfer}
                                              : std::vector<PgStatement>{kBegin, kDebit, kCredit, kCommit, kRollback};
    if (audited()) statements.push_back(options_.function_mode ? kCallTransferAudited : kLedgerInsert);
    open_in_group(io, index, std::move(statements),
                  [this, &done](const std::shared_ptr<PgConnection>& conn, const std::string& error) {
                      deliver(conn, error, done);
                  });
}

void PostgresConnector::open_in_group(asio::io_context& io, std::size_t index, std::vector<PgStatement> statements,
                                      GroupOpened done) {
    const std::size_t group_index = index / options_.inflight;
    std::shared_ptr<PgConnection> to_open;
    {
        std::lock_guard lock(groups_->mutex);
        Groups::Group& group = groups_->by_group[group_index];
        if (group.open || !group.error.empty()) {  // a later session of an opened group
            auto conn = group.conn.lock();  // (its earlier sessions hold it: none has finished yet)
            const std::string error = conn || !group.error.empty() ? group.error : "connection closed";
            asio::post(io, [conn = std::move(conn), error, done = std::move(done)] { done(conn, error); });
            return;
        }
        group.waiting.push_back(std::move(done));
        if (group.opening) return;  // its first session is opening it; this one waits
        group.opening = true;
        PgConnectionSettings settings;
        settings.conninfo = options_.session_conninfo;
        settings.setup = connection_setup();
        settings.statements = std::move(statements);
        settings.depth = options_.inflight;
        settings.users = options_.inflight;
        group.conn = to_open = std::make_shared<PgConnection>(io, std::move(settings));
    }
    to_open->open([this, group_index](std::string error) {
        std::vector<GroupOpened> waiting;
        std::shared_ptr<PgConnection> conn;
        {
            std::lock_guard lock(groups_->mutex);
            Groups::Group& group = groups_->by_group[group_index];
            group.open = error.empty();
            group.error = error;
            waiting.swap(group.waiting);
            conn = group.conn.lock();  // (alive: it is the one calling)
        }
        for (GroupOpened& opened : waiting) opened(conn, error);
    });
}

void PostgresConnector::deliver(const std::shared_ptr<PgConnection>& conn, const std::string& error,
                                AsyncTransferOpenCallback& done) const {
    if (!error.empty()) return done.open_failed(error);
    if (options_.function_mode) return done.opened(std::make_unique<FunctionSession>(conn));
    done.opened(std::make_unique<StatementsSession>(conn));
}

std::string PostgresConnector::library_version() { return PQXX_VERSION; }

namespace {
const ConnectorRegistrar registrar({.kind = "postgres",
                                    .make = make_registered<PostgresConnector>,
                                    .capabilities = {.sql_dialect = "postgres", .placeholder = "$1", .model = SessionModel::event_loop, .pipelining = true, .audit = true},
                                    .library_versions = [] {
                                        return std::map<std::string, std::string>{
                                            {"libpq", pg_library_version()},
                                            {"libpqxx", PostgresConnector::library_version()}};
                                    }});
}  // namespace

}  // namespace loadbench
