// Reading connector options (plain strings from the Python side) with one clear error each.
#pragma once

#include <string>

#include "connectors/connector.hpp"

namespace loadbench {

std::string option_string(const ConnectorOptions& options, const std::string& key, const std::string& fallback);
std::string option_required(const ConnectorOptions& options, const std::string& key);
long long option_int(const ConnectorOptions& options, const std::string& key, long long fallback, long long min,
                     long long max);

}  // namespace loadbench
