// The wire formats of the contract-tested connectors: what each sends for a transfer and how each
// reads the service's replies (success, rejection, the service's error shapes).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "connectors/convex_connector.hpp"
#include "connectors/spacetimedb_connector.hpp"
#include "connectors/supabase_rest_connector.hpp"

namespace loadbench {
namespace {

using json = nlohmann::json;

TEST(PostgrestProtocol, SendsTheFunctionsNamedArguments) {
    const json body = json::parse(postgrest::transfer_body({.from_id = 3, .to_id = 9, .amount = 40}));
    EXPECT_EQ(body, json({{"p_from", 3}, {"p_to", 9}, {"p_amount", 40}}));
}

TEST(PostgrestProtocol, BooleanResultIsCommittedOrRejected) {
    std::string error;
    EXPECT_EQ(postgrest::interpret_transfer_reply(200, "true", error).outcome, Outcome::committed);
    EXPECT_EQ(postgrest::interpret_transfer_reply(200, "false", error).outcome, Outcome::rejected);
    EXPECT_EQ(postgrest::interpret_transfer_reply(200, "[]", error).error, ErrorKind::protocol);
}

// The replies below are the real PostgREST 12.0.2's, captured here (tests/test_postgrest.py checks
// that the server still answers them, and the fake too).
TEST(PostgrestProtocol, ADeadlockIsHttp500AndRetryable) {
    std::string error;
    const Attempt a = postgrest::interpret_transfer_reply(
        500,
        R"({"code":"40P01","details":"Process 11099 waits for ShareLock on transaction 746; blocked by process 11094.\nProcess 11094 waits for ShareLock on transaction 747; blocked by process 11099.","hint":"See server log for query details.","message":"deadlock detected"})",
        error);
    EXPECT_EQ(a.outcome, Outcome::failed);
    EXPECT_EQ(a.error, ErrorKind::deadlock);
    EXPECT_TRUE(a.retryable);
    EXPECT_EQ(error, "40P01: deadlock detected");
}

TEST(PostgrestProtocol, TooManyConnectionsIsHttp503BusyAndRetryable) {
    std::string error;
    const Attempt a = postgrest::interpret_transfer_reply(
        503, R"({"code":"53300","details":null,"hint":null,"message":"injected 53300"})", error);
    EXPECT_EQ(a.error, ErrorKind::busy);  // PostgREST's database is full; our connection to it is fine
    EXPECT_TRUE(a.retryable);
    EXPECT_EQ(error, "53300: injected 53300");
}

TEST(PostgrestProtocol, ARaisedExceptionIsHttp400AndFinal) {
    std::string error;
    const Attempt a = postgrest::interpret_transfer_reply(
        400, R"({"code":"P0001","details":null,"hint":null,"message":"injected P0001"})", error);
    EXPECT_EQ(a.error, ErrorKind::other);
    EXPECT_FALSE(a.retryable);
    EXPECT_EQ(error, "P0001: injected P0001");
}

TEST(PostgrestProtocol, PostgrestsOwnErrorsAreFinal) {
    std::string error;
    const Attempt missing = postgrest::interpret_transfer_reply(
        404,
        R"({"code":"PGRST202","details":"Searched for the function public.transfer with parameters p_amount, p_from, p_to or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.","hint":null,"message":"Could not find the function public.transfer(p_amount, p_from, p_to) in the schema cache"})",
        error);
    EXPECT_EQ(missing.error, ErrorKind::other);
    EXPECT_FALSE(missing.retryable);
    EXPECT_EQ(error, "PGRST202: Could not find the function public.transfer(p_amount, p_from, p_to) in the schema cache");
    const Attempt forged = postgrest::interpret_transfer_reply(
        401, R"({"code":"PGRST301","details":null,"hint":null,"message":"JWSError JWSInvalidSignature"})", error);
    EXPECT_EQ(forged.error, ErrorKind::other);
    EXPECT_FALSE(forged.retryable);
    EXPECT_EQ(error, "PGRST301: JWSError JWSInvalidSignature");
}

TEST(PostgrestProtocol, ASerializationFailureWouldBeRetryable) {
    // PostgREST re-runs 40001 itself and never answers it; another server in front might.
    std::string error;
    const Attempt a = postgrest::interpret_transfer_reply(
        500, R"({"code":"40001","details":null,"hint":null,"message":"could not serialize access"})", error);
    EXPECT_EQ(a.error, ErrorKind::serialization);
    EXPECT_TRUE(a.retryable);
}

TEST(PostgrestProtocol, RepliesWithoutPostgrestsShapeGoByTheStatus) {
    std::string error;
    // Supabase's gateway: {"message"} without a code.
    const Attempt key = postgrest::interpret_transfer_reply(401, R"({"message":"Invalid API key"})", error);
    EXPECT_EQ(key.error, ErrorKind::other);
    EXPECT_FALSE(key.retryable);
    EXPECT_EQ(error, "Invalid API key");
    const Attempt down = postgrest::interpret_transfer_reply(503, "upstream down", error);
    EXPECT_EQ(down.error, ErrorKind::busy);
    EXPECT_TRUE(down.retryable);
    EXPECT_EQ(error, "HTTP 503: upstream down");
}

TEST(ConvexProtocol, SendsPathArgsAndFormat) {
    const json body = json::parse(convex::transfer_body({.from_id = 1, .to_id = 2, .amount = 5}));
    EXPECT_EQ(body["path"], "transfer:transfer");
    EXPECT_EQ(body["format"], "json");
    EXPECT_EQ(body["args"], json({{"from_id", 1}, {"to_id", 2}, {"amount", 5}}));
}

TEST(ConvexProtocol, ReadsSuccessAndErrorReplies) {
    std::string error;
    EXPECT_EQ(convex::interpret_transfer_reply(200, R"({"status":"success","value":true,"logLines":[]})", error).outcome,
              Outcome::committed);
    EXPECT_EQ(convex::interpret_transfer_reply(200, R"({"status":"success","value":false})", error).outcome,
              Outcome::rejected);
    const Attempt failed =
        convex::interpret_transfer_reply(560, R"({"status":"error","errorMessage":"Uncaught Error: boom"})", error);
    EXPECT_EQ(failed.error, ErrorKind::other);
    EXPECT_EQ(error, "Uncaught Error: boom");
    const Attempt conflict = convex::interpret_transfer_reply(
        560, R"({"status":"error","errorMessage":"Documents read from or written to the table changed while this mutation was being run"})",
        error);
    EXPECT_EQ(conflict.error, ErrorKind::serialization);
    EXPECT_TRUE(conflict.retryable);
}

TEST(SpacetimeDbProtocol, CallReducerCarriesArgsAsJsonText) {
    const json message = json::parse(stdb::call_reducer_message({.from_id = 4, .to_id = 7, .amount = 12}, 99));
    const json& call = message["CallReducer"];
    EXPECT_EQ(call["reducer"], "transfer");
    EXPECT_EQ(call["request_id"], 99);
    EXPECT_EQ(call["flags"], 0);
    ASSERT_TRUE(call["args"].is_string());
    EXPECT_EQ(json::parse(call["args"].get<std::string>()), json({4, 7, 12}));
}

std::string update(const std::string& status, unsigned request_id) {
    return R"({"TransactionUpdate":{"status":)" + status + R"(,"reducer_call":{"reducer_name":"transfer","reducer_id":1,"args":"[]","request_id":)" +
           std::to_string(request_id) + "}}}";
}

TEST(SpacetimeDbProtocol, ReadsTheUpdateForItsOwnRequest) {
    std::string error;
    EXPECT_FALSE(stdb::interpret_message(R"({"IdentityToken":{"token":"t"}})", 5, error));
    EXPECT_FALSE(stdb::interpret_message(update(R"({"Committed":{"tables":[]}})", 4), 5, error));
    EXPECT_EQ(stdb::interpret_message(update(R"({"Committed":{"tables":[]}})", 5), 5, error)->outcome, Outcome::committed);
    EXPECT_EQ(stdb::interpret_message(update(R"({"Failed":"insufficient_funds"})", 5), 5, error)->outcome,
              Outcome::rejected);
    const auto failed = stdb::interpret_message(update(R"({"Failed":"account_missing"})", 5), 5, error);
    EXPECT_EQ(failed->error, ErrorKind::other);
    EXPECT_EQ(error, "account_missing");
    EXPECT_EQ(stdb::interpret_message(update(R"({"OutOfEnergy":[]})", 5), 5, error)->outcome, Outcome::failed);
    EXPECT_EQ(stdb::interpret_message("not json", 5, error)->error, ErrorKind::protocol);
}

}  // namespace
}  // namespace loadbench
