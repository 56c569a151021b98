// What a system error means for a load test, in one line: running out of descriptors, memory or
// local ports is the harness's machine at a limit, not the database failing, and must read as such
// (strerror's "Operation canceled" or "Cannot assign requested address" said nothing of the kind).
// Every connector describes the errors it gets from the system through these.
#pragma once

#include <boost/system/error_code.hpp>

#include <string>

namespace loadbench {

// One line for errno `err`. A resource limit names itself and says what to raise, with the
// limit as it is now, e.g. "too many open files (EMFILE): raise the limit with ulimit -n, now 1024";
// EADDRNOTAVAIL on a connect is "no local port left (EADDRNOTAVAIL): ephemeral ports exhausted,
// net.ipv4.ip_local_port_range is 32768-60999"; any other error is strerror's text.
std::string describe_errno(int err);

// The same for an Asio/Beast error code: system errors as describe_errno, others as their message.
std::string describe_error(const boost::system::error_code& ec);

// True for the errno values that mean the harness's machine is out of something (descriptors,
// memory, buffers, local ports) rather than that the server refused or vanished.
bool is_resource_exhaustion(int err);

// A library's message (libpq's "could not create socket: Too many open files") with the
// description of any resource exhaustion it reports in strerror's words appended, so it reads as
// what it is; other messages come back unchanged.
std::string explain_resource_errors(const std::string& message);

}  // namespace loadbench
