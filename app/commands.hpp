#pragma once
// The subcommands of the smarthost executable. Each returns the process exit status.

#include <cstdint>
#include <string>
#include <vector>

namespace smarthost {

struct Config;

int serve(const Config& config, const std::vector<std::string>& roles, bool check_only);
int migrate(const Config& config);

struct CredentialRequest {
    std::string account;
    std::string username;
    std::string password;  // generated when empty
    bool create_account = false;
};
int set_credential(const Config& config, const CredentialRequest& request);
int add_network(const Config& config, const std::string& account, const std::string& cidr);
int create_token(const Config& config, const std::string& name);
// Registers the admin API token held by the environment variable `token_variable` (never
// an argument: the command line shows in `ps`) under `name`. Exits 0 when it is stored,
// or was already under that name; 2 for a bad token; 1 when name or token is taken.
int import_token(const Config& config, const std::string& name, const std::string& token_variable);

// `smarthost dkim ...`: the DKIM key steps of docs/dkim.md from the shell (no audit row:
// the shell is the operator's own). The sender domain is found by name; `account` names
// its account when several accounts have the domain.
struct DkimKeyRequest {
    std::string domain;
    std::string account;
    std::string algorithm = "rsa-sha256";
    std::string selector;  // empty: the default, by date
};
int dkim_create(const Config& config, const DkimKeyRequest& request);
int dkim_show(const Config& config, const DkimKeyRequest& request);
int dkim_activate(const Config& config, std::int64_t key_id, bool force);

}  // namespace smarthost
