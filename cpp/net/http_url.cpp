#include "net/http_url.hpp"

#include <charconv>

#include "errors/connector_errors.hpp"

namespace loadbench {

std::string HttpUrl::host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    const std::string h = v6 ? "[" + host + "]" : host;
    const bool default_port = (!tls() && port == "80") || (tls() && port == "443");
    return default_port ? h : h + ":" + port;
}

std::string HttpUrl::origin() const { return scheme + "://" + host_header(); }

HttpUrl parse_http_url(const std::string& url) {
    HttpUrl u;
    const auto colon = url.find("://");
    if (colon == std::string::npos) throw ConnectorConfigError("URL must start with http:// or https:// (or ws://, wss://)");
    u.scheme = url.substr(0, colon);
    for (char& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (u.scheme != "http" && u.scheme != "https" && u.scheme != "ws" && u.scheme != "wss")
        throw ConnectorConfigError("URL must start with http:// or https:// (or ws://, wss://)");
    std::string rest = url.substr(colon + 3);
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    u.base_path = slash == std::string::npos ? "" : rest.substr(slash);
    if (const auto q = u.base_path.find_first_of("?#"); q != std::string::npos) u.base_path.resize(q);
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
    if (authority.find('@') != std::string::npos)
        throw ConnectorConfigError("credentials in the URL are not supported (pass keys through their own setting)");
    std::string port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string::npos) throw ConnectorConfigError("URL has an unterminated [IPv6] host");
        u.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') throw ConnectorConfigError("URL has a malformed host");
            port = authority.substr(close + 2);
        }
    } else {
        const auto c = authority.rfind(':');
        u.host = authority.substr(0, c);
        if (c != std::string::npos) port = authority.substr(c + 1);
    }
    if (u.host.empty()) throw ConnectorConfigError("URL names no host");
    if (port.empty()) {
        u.port = u.tls() ? "443" : "80";
    } else {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
            throw ConnectorConfigError("URL has an invalid port");
        u.port = std::to_string(value);
    }
    return u;
}

}  // namespace loadbench
