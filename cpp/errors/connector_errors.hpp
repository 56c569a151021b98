// The errors a connector's configuration or its system raise, in a header of their own so that
// the transport layer (net/) can raise them without knowing what a connector is.
#pragma once

#include <stdexcept>

namespace loadbench {

// Thrown for a configuration the connector cannot use (bad option, unreachable file...): the
// message is one clear line, free of secrets, that the CLI shows as is.
struct ConnectorError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A ConnectorError that is the user's configuration (a malformed URL, a wrong password, a missing
// database), not the system's failure: the CLI treats it as bad input.
struct ConnectorConfigError : ConnectorError {
    using ConnectorError::ConnectorError;
};

}  // namespace loadbench
