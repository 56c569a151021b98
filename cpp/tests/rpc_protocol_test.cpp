// The rpc wire format and HTTP URL parsing: what the connector sends and how it reads replies.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "connectors/rpc_connector.hpp"
#include "net/http_url.hpp"

namespace loadbench {
namespace {

using json = nlohmann::json;

TEST(RpcProtocol, TransferBodyUsesZeroBasedIds) {
    const json body = json::parse(rpc::transfer_body({.from_id = 1, .to_id = 100, .amount = 7}));
    EXPECT_EQ(body["name"], "transfer");
    EXPECT_EQ(body["args"]["from_id"], 0);
    EXPECT_EQ(body["args"]["to_id"], 99);
    EXPECT_EQ(body["args"]["amount"], 7);
}

TEST(RpcProtocol, PlainOkIsCommitted) {
    std::string error;
    EXPECT_EQ(rpc::interpret_transfer_reply(200, R"({"ok":true})", error).outcome, Outcome::committed);
    EXPECT_EQ(rpc::interpret_transfer_reply(200, R"({"ok": true, "result": null})", error).outcome, Outcome::committed);
}

TEST(RpcProtocol, TransferredFalseIsRejected) {
    std::string error;
    EXPECT_EQ(rpc::interpret_transfer_reply(200, R"({"ok":true,"result":{"transferred":false}})", error).outcome,
              Outcome::rejected);
}

TEST(RpcProtocol, ErrorReplyFailsWithTheServersMessage) {
    std::string error;
    const Attempt a = rpc::interpret_transfer_reply(500, R"({"ok":false,"error":"internal error"})", error);
    EXPECT_EQ(a.outcome, Outcome::failed);
    EXPECT_EQ(a.error, ErrorKind::other);
    EXPECT_FALSE(a.retryable);
    EXPECT_EQ(error, "internal error");
}

TEST(RpcProtocol, ErrorKindFromTheBundledServerIsKept) {
    std::string error;
    const Attempt a = rpc::interpret_transfer_reply(500, R"({"ok":false,"error":"database is locked","kind":"busy"})", error);
    EXPECT_EQ(a.error, ErrorKind::busy);
    EXPECT_TRUE(a.retryable);
}

TEST(RpcProtocol, TooManyRequestsIsBusyAndRetryable) {
    std::string error;
    const Attempt a = rpc::interpret_transfer_reply(429, "slow down", error);
    EXPECT_EQ(a.error, ErrorKind::busy);
    EXPECT_TRUE(a.retryable);
    EXPECT_EQ(error, "HTTP 429: slow down");
}

TEST(RpcProtocol, NonJsonSuccessIsAProtocolError) {
    std::string error;
    const Attempt a = rpc::interpret_transfer_reply(200, "<html>hello</html>", error);
    EXPECT_EQ(a.error, ErrorKind::protocol);
}

TEST(HttpUrl, ParsesHostPortAndPrefix) {
    const HttpUrl u = parse_http_url("http://127.0.0.1:4101/api/");
    EXPECT_EQ(u.host, "127.0.0.1");
    EXPECT_EQ(u.port, "4101");
    EXPECT_EQ(u.base_path, "/api");
    EXPECT_EQ(u.host_header(), "127.0.0.1:4101");
}

TEST(HttpUrl, DefaultsThePortAndHandlesIpv6) {
    EXPECT_EQ(parse_http_url("http://example.com").port, "80");
    EXPECT_EQ(parse_http_url("http://example.com").host_header(), "example.com");
    const HttpUrl u = parse_http_url("ws://[::1]:3000");
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.host_header(), "[::1]:3000");
}

TEST(HttpUrl, HttpsMeansTlsOnPort443) {
    const HttpUrl u = parse_http_url("https://demo.supabase.co");
    EXPECT_TRUE(u.tls());
    EXPECT_EQ(u.port, "443");
    EXPECT_EQ(u.host_header(), "demo.supabase.co");
    EXPECT_FALSE(parse_http_url("http://x").tls());
    EXPECT_TRUE(parse_http_url("wss://maincloud.example").tls());
}

TEST(HttpUrl, RefusesWhatItCannotUse) {
    EXPECT_THROW(parse_http_url("postgres://x"), ConnectorConfigError);
    EXPECT_THROW(parse_http_url("http://user:secret@host"), ConnectorConfigError);
    EXPECT_THROW(parse_http_url("http://host:99999"), ConnectorConfigError);
    EXPECT_THROW(parse_http_url("http://:80"), ConnectorConfigError);
    try {
        parse_http_url("http://user:secret@host");
    } catch (const ConnectorConfigError& e) {
        EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos);
    }
}

}  // namespace
}  // namespace loadbench
