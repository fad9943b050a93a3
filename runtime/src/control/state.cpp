#include "control/state.hpp"

#include "store/audit.hpp"
#include "store/migrations.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace patchbay::control {

namespace fs = std::filesystem;

Result<State> open_state(const fs::path& data_dir) {
    std::error_code ec;
    if (!fs::exists(data_dir, ec)) {
        fs::create_directories(data_dir, ec);
        if (!ec) fs::permissions(data_dir, fs::perms::owner_all, ec);  // sealed secrets and token hashes live here
    }
    if (ec) return Error(Errc::internal, "cannot create the data directory '" + data_dir.string() + "': " + ec.message());
    // The database holds sealed secrets and token hashes: owner-only from the first byte (SQLite
    // gives its -wal and -shm files the database file's mode).
    if (int fd = ::open((data_dir / "patchbay.db").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600); fd >= 0) ::close(fd);
    State s;
    try {
        s.db = std::make_unique<store::SqliteDatabase>(data_dir / "patchbay.db");
        store::migrate(*s.db);
    } catch (const store::StoreError& e) {
        return Error(Errc::store_unavailable, e.what());
    }
    auto vault = secrets::Vault::open(*s.db, data_dir);
    if (!vault) return vault.error();
    s.vault = std::move(*vault);
    s.principals = std::make_unique<store::PrincipalStore>(*s.db);
    return s;
}

Result<Bootstrap> bootstrap_if_empty(State& state, const fs::path& data_dir) {
    Bootstrap b;
    if (!state.principals->list_teams().empty()) return b;
    auto team = state.principals->create_team("default");
    if (!team) return team.error();
    auto member = state.principals->add_member(team->id, "admin", store::Role::admin, "Bootstrap admin");
    if (!member) return member.error();
    auto token = state.principals->create_token(team->id, member->user_id, "bootstrap");
    if (!token) return token.error();
    b.created = true;
    b.team = team->name;
    b.user = member->name;
    b.token_file = data_dir / "bootstrap-token";
    int fd = ::open(b.token_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Error(Errc::internal, "cannot write '" + b.token_file.string() + "': " + std::strerror(errno));
    std::string text = token->token + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::fsync(fd);
    ::close(fd);
    if (!ok) return Error(Errc::internal, "cannot write '" + b.token_file.string() + "'");
    state.db->write([&](store::Tx& tx) {
        store::record_audit(tx, team->id, "system", "bootstrap", "team", team->name,
                            boost::json::object{{"admin", member->name}, {"token_id", token->info.id}});
    });
    return b;
}

}  // namespace patchbay::control
