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

TEST(PostgrestProtocol, SqlstateOfAnErrorChoosesTheKind) {
    std::string error;
    const Attempt a = postgrest::interpret_transfer_reply(
        409, R"({"code":"40001","details":null,"hint":null,"message":"could not serialize access"})", error);
    EXPECT_EQ(a.error, ErrorKind::serialization);
    EXPECT_TRUE(a.retryable);
    EXPECT_EQ(error, "40001: could not serialize access");
    const Attempt missing = postgrest::interpret_transfer_reply(
        404, R"({"code":"PGRST202","message":"Could not find the function public.transfer"})", error);
    EXPECT_EQ(missing.error, ErrorKind::other);
    EXPECT_EQ(postgrest::interpret_transfer_reply(503, "upstream down", error).error, ErrorKind::busy);
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
