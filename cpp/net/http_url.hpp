// HttpUrl: where an HTTP or WebSocket endpoint lives (scheme, host, port, base path), parsed once
// from a connector's URL: http://, ws://, and over TLS (verified against the system's CAs, or
// SSL_CERT_FILE's) https:// and wss://. Userinfo is refused so no secret can ride in a URL this
// layer would later print.
#pragma once

#include <string>

namespace loadbench {

struct HttpUrl {
    std::string scheme;     // http, https, ws or wss
    std::string host;       // as written (a name or an IPv4 address; [v6] without brackets)
    std::string port;       // decimal; the scheme's default when the URL names none
    std::string base_path;  // "" or "/prefix" (no trailing slash)

    bool tls() const { return scheme == "https" || scheme == "wss"; }
    std::string host_header() const;  // host[:port] for the Host header
    std::string origin() const;       // scheme://host:port, for messages
};

// Throws ConnectorConfigError (one line, the URL not repeated) when `url` is not usable.
HttpUrl parse_http_url(const std::string& url);

}  // namespace loadbench
