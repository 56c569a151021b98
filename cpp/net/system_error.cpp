#include "net/system_error.hpp"

#include <sys/resource.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace loadbench {
namespace {

// ENFILE before EMFILE: strerror(ENFILE), "Too many open files in system", begins with strerror(EMFILE).
constexpr std::array<int, 5> kExhaustion = {ENFILE, EMFILE, ENOMEM, ENOBUFS, EADDRNOTAVAIL};

std::string first_line_of(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    for (char& c : line)
        if (c == '\t') c = '-';  // ip_local_port_range is "32768\t60999"
    return line.empty() ? "unknown" : line;
}

std::string strerror_text(int err) {
    char buf[256];
    // GNU strerror_r returns the text (maybe not in buf); thread-safe, unlike strerror.
    return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace

bool is_resource_exhaustion(int err) {
    for (int e : kExhaustion)
        if (e == err) return true;
    return false;
}

std::string describe_errno(int err) {
    switch (err) {
        case EMFILE: {
            rlimit limit{};
            getrlimit(RLIMIT_NOFILE, &limit);
            return "too many open files (EMFILE): raise the limit with ulimit -n, now " +
                   (limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(limit.rlim_cur));
        }
        case ENFILE:
            return "too many open files in the system (ENFILE): raise fs.file-max, now " +
                   first_line_of("/proc/sys/fs/file-max");
        case ENOMEM: return "out of memory (ENOMEM)";
        case ENOBUFS: return "out of kernel buffer space (ENOBUFS)";
        case EADDRNOTAVAIL:
            return "no local port left (EADDRNOTAVAIL): ephemeral ports exhausted, net.ipv4.ip_local_port_range is " +
                   first_line_of("/proc/sys/net/ipv4/ip_local_port_range");
        default: return strerror_text(err);
    }
}

std::string describe_error(const boost::system::error_code& ec) {
    if (ec.category() == boost::system::system_category()) return describe_errno(ec.value());
    return ec.message();
}

std::string explain_resource_errors(const std::string& message) {
    std::string out = message;
    for (int err : kExhaustion) {
        const std::string text = strerror_text(err);
        const auto at = out.find(text);
        if (at != std::string::npos) out.replace(at, text.size(), describe_errno(err));
    }
    return out;
}

}  // namespace loadbench
