// The anchor loadbench is measured against on SQLite: test-1's transfer in the plainest loop over
// the sqlite3 C API, one thread, the same statements and pragmas as loadbench's `sqlite`
// connector, the same Zipf account choice, and no latency recording at all.
//
//   sqlite_plain_loop FILE MODE WARMUP SECONDS ACCOUNTS ALPHA SEED
//
// The file must be prepped (python -m loadbench prep). Prints one JSON line.
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sampling/zipf.hpp"

using namespace loadbench;

static void check(sqlite3* db, int rc, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        std::exit(1);
    }
}

static int step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
}

int main(int argc, char** argv) {
    if (argc != 8) {
        std::fprintf(stderr, "usage: %s FILE MODE WARMUP SECONDS ACCOUNTS ALPHA SEED\n", argv[0]);
        return 2;
    }
    const std::string mode = argv[2];
    const double warmup = std::atof(argv[3]);
    const double seconds = std::atof(argv[4]);
    const std::uint64_t accounts = std::strtoull(argv[5], nullptr, 10);
    const double alpha = std::atof(argv[6]);
    Rng rng(std::strtoull(argv[7], nullptr, 10));
    ZipfSampler zipf(accounts, alpha);

    sqlite3* db = nullptr;
    check(db, sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr), "open");
    if (mode == "wal") {
        check(db, sqlite3_exec(db, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr), "pragma");
        sqlite3_busy_timeout(db, 5000);
    } else if (mode == "fast") {
        check(db, sqlite3_exec(db, "PRAGMA synchronous=OFF", nullptr, nullptr, nullptr), "pragma");
        sqlite3_busy_timeout(db, 5000);
    } else if (mode != "default") {
        std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
        return 2;
    }

    sqlite3_stmt *begin, *debit, *credit, *commit, *rollback;
    check(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr), "prepare");
    check(db, sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1", -1,
                                 &debit, nullptr), "prepare");
    check(db, sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2", -1, &credit, nullptr),
          "prepare");
    check(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr), "prepare");
    check(db, sqlite3_prepare_v2(db, "ROLLBACK", -1, &rollback, nullptr), "prepare");

    std::uint64_t committed = 0, rejected = 0;
    // One transfer, exactly as loadbench's sqlite connector does it.
    auto transfer = [&] {
        const std::uint64_t from = zipf(rng);
        std::uint64_t to = zipf(rng);
        while (to == from) to = zipf(rng);
        const auto amount = static_cast<sqlite3_int64>(1 + rng.below(100));

        check(db, step(begin), "begin");
        sqlite3_bind_int64(debit, 1, amount);
        sqlite3_bind_int64(debit, 2, static_cast<sqlite3_int64>(from + 1));
        check(db, step(debit), "debit");
        if (sqlite3_changes(db) == 0) {
            check(db, step(rollback), "rollback");
            ++rejected;
            return;
        }
        sqlite3_bind_int64(credit, 1, amount);
        sqlite3_bind_int64(credit, 2, static_cast<sqlite3_int64>(to + 1));
        check(db, step(credit), "credit");
        check(db, step(commit), "commit");
        ++committed;
    };
    using clock = std::chrono::steady_clock;
    const auto warm_until = clock::now() + std::chrono::duration<double>(warmup);
    while (clock::now() < warm_until) transfer();
    committed = rejected = 0;

    const auto start = clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    auto now = start;
    while (now < end) {
        transfer();
        now = clock::now();
    }
    const double elapsed = std::chrono::duration<double>(now - start).count();
    std::printf("{\"committed\": %llu, \"rejected\": %llu, \"seconds\": %.6f, \"ops_per_s\": %.1f}\n",
                static_cast<unsigned long long>(committed), static_cast<unsigned long long>(rejected), elapsed,
                static_cast<double>(committed + rejected) / elapsed);
    for (sqlite3_stmt* s : {begin, debit, credit, commit, rollback}) sqlite3_finalize(s);
    sqlite3_close(db);
    return 0;
}
