#include "connectors/registry.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>

namespace loadbench {
namespace {

// Function-local statics: registrars in other files run during static initialization, in an
// order the language leaves open, and may come before any global of this file.
struct Registry {
    std::mutex mutex;
    std::vector<ConnectorRegistration> entries;
    bool sorted = false;
    std::string duplicate;
};

Registry& registry() {
    static Registry r;
    return r;
}

}  // namespace

ConnectorRegistrar::ConnectorRegistrar(ConnectorRegistration registration) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    for (const auto& e : r.entries)
        if (e.kind == registration.kind) r.duplicate = registration.kind;
    r.entries.push_back(std::move(registration));
    r.sorted = false;
}

const std::vector<ConnectorRegistration>& registered_connectors() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    if (!r.duplicate.empty()) throw std::logic_error("connector kind '" + r.duplicate + "' is registered twice");
    if (!r.sorted) {
        std::sort(r.entries.begin(), r.entries.end(), [](const auto& a, const auto& b) { return a.kind < b.kind; });
        r.sorted = true;
    }
    return r.entries;
}

std::shared_ptr<Connector> make_connector(const std::string& kind, const ConnectorOptions& options) {
    for (const auto& e : registered_connectors())
        if (e.kind == kind) {
            auto connector = e.make(options);
            connector->kind_ = kind;
            return connector;
        }
    throw ConnectorError("unknown connector kind '" + kind + "'");
}

std::vector<std::string> connector_kinds() {
    std::vector<std::string> kinds;
    for (const auto& e : registered_connectors()) kinds.push_back(e.kind);
    return kinds;
}

std::map<std::string, std::string> library_versions() {
    std::map<std::string, std::string> versions{{"compiler", __VERSION__}};
    for (const auto& e : registered_connectors())
        if (e.library_versions) versions.merge(e.library_versions());
    return versions;
}

}  // namespace loadbench
