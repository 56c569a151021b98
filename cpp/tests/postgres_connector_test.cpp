// The PostgreSQL connector's pieces that need no server: server errors map to the right kinds
// (only serialization failures and deadlocks are retried), and options are checked up front.
#include <gtest/gtest.h>

#include "connectors/pg_connection.hpp"
#include "connectors/postgres_connector.hpp"

namespace loadbench {
namespace {

PgReply classified(const char* sqlstate) {
    PgReply r;
    classify_pg_error(sqlstate, r);
    return r;
}

TEST(PgErrors, SerializationFailuresAndDeadlocksAreRetryable) {
    EXPECT_EQ(classified("40001").error, ErrorKind::serialization);
    EXPECT_TRUE(classified("40001").retryable);
    EXPECT_EQ(classified("40P01").error, ErrorKind::deadlock);
    EXPECT_TRUE(classified("40P01").retryable);
}

TEST(PgErrors, OtherKindsAreNotRetried) {
    EXPECT_EQ(classified("23505").error, ErrorKind::constraint);
    EXPECT_EQ(classified("57P01").error, ErrorKind::connection);  // pg_terminate_backend
    EXPECT_EQ(classified("08006").error, ErrorKind::connection);
    EXPECT_EQ(classified("57014").error, ErrorKind::timeout);     // canceled by our interrupt
    EXPECT_EQ(classified("XX000").error, ErrorKind::other);
    EXPECT_EQ(classified(nullptr).error, ErrorKind::other);
    for (const char* s : {"23505", "57P01", "08006", "57014", "XX000"}) EXPECT_FALSE(classified(s).retryable) << s;
}

TEST(PgOptions, MalformedUrlIsAConfigurationError) {
    EXPECT_THROW(PostgresConnector(ConnectorOptions{{"url", "postgresql://h/db?no_such_option=1"}}), ConnectorConfigError);
    EXPECT_THROW(PostgresConnector(ConnectorOptions{{"url", "host=h port"}}), ConnectorConfigError);
}

TEST(PgOptions, PipeliningNeedsFunctionMode) {
    EXPECT_THROW(PostgresConnector(ConnectorOptions{{"url", "postgresql://h/db"}, {"mode", "statements"}, {"inflight", "4"}}),
                 ConnectorError);
    EXPECT_EQ(PostgresConnector(ConnectorOptions{{"url", "postgresql://h/db"}, {"inflight", "4"}}).sessions_per_connection(), 4u);
}

TEST(PgOptions, UnknownValuesAreRejected) {
    EXPECT_THROW(PostgresConnector(ConnectorOptions{{"url", "postgresql://h/db"}, {"mode", "magic"}}), ConnectorError);
    EXPECT_THROW(PostgresConnector(ConnectorOptions{{"url", "postgresql://h/db"}, {"isolation", "snapshot"}}), ConnectorError);
    EXPECT_THROW(PostgresConnector(ConnectorOptions{{"url", "postgresql://h/db"}, {"flavor", "oracle"}}), ConnectorError);
}

}  // namespace
}  // namespace loadbench
