#include "connectors/options.hpp"

#include <charconv>

namespace loadbench {

std::string option_string(const ConnectorOptions& options, const std::string& key, const std::string& fallback) {
    auto it = options.find(key);
    return it == options.end() ? fallback : it->second;
}

std::string option_required(const ConnectorOptions& options, const std::string& key) {
    auto it = options.find(key);
    if (it == options.end() || it->second.empty()) throw ConnectorError("missing connector option '" + key + "'");
    return it->second;
}

long long option_int(const ConnectorOptions& options, const std::string& key, long long fallback, long long min,
                     long long max) {
    auto it = options.find(key);
    if (it == options.end()) return fallback;
    const std::string& text = it->second;
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        throw ConnectorError("connector option '" + key + "' must be an integer in [" + std::to_string(min) + ", " +
                             std::to_string(max) + "], got '" + text + "'");
    return value;
}

}  // namespace loadbench
