// smarthost: authenticated outbound SMTP relay. One executable, several subcommands.

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "app/commands.hpp"
#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/log.hpp"

int main(int argc, char** argv) {
    using namespace smarthost;
    CLI::App app{"smarthost: authenticated outbound SMTP relay"};
    app.require_subcommand(1);
    std::string config_path = "/etc/smarthost/smarthost.toml";
    if (const char* env = std::getenv("SMARTHOST_CONFIG"); env && *env) config_path = env;
    app.add_option("-c,--config", config_path, "configuration file (TOML); env SMARTHOST_CONFIG");

    auto* serve_cmd = app.add_subcommand("serve", "run the relay");
    std::vector<std::string> roles;  // empty: every role the configuration allows
    bool check_only = false;
    serve_cmd
        ->add_option("--roles", roles,
                     "roles to run, comma-separated (smtp, delivery, admin; default: all "
                     "that are configured)")
        ->delimiter(',');
    serve_cmd->add_flag("--check-config", check_only,
                        "validate the configuration and TLS files, then exit");

    auto* migrate_cmd = app.add_subcommand("migrate", "apply the schema migrations");

    auto* credential_cmd = app.add_subcommand("credential", "manage SMTP credentials");
    credential_cmd->require_subcommand(1);
    auto* credential_set = credential_cmd->add_subcommand(
        "set", "create a credential, or set its password; prints the password");
    CredentialRequest credential;
    credential_set->add_option("--account", credential.account, "account name")->required();
    credential_set->add_option("--username", credential.username, "SMTP username")->required();
    credential_set->add_option("--password", credential.password,
                               "password to set (default: a new random one)");
    credential_set->add_flag("--create-account", credential.create_account,
                             "create the account when it does not exist");

    auto* token_cmd = app.add_subcommand("token", "manage admin API tokens");
    token_cmd->require_subcommand(1);
    auto* token_create =
        token_cmd->add_subcommand("create", "create an admin API token and print it once");
    std::string token_name;
    token_create->add_option("--name", token_name, "a unique name, recorded in the audit log")
        ->required();
    auto* token_import = token_cmd->add_subcommand(
        "import",
        "register a token you chose (e.g. from a Kubernetes Secret), read from the environment; "
        "a rerun with the same name and token changes nothing");
    std::string import_name;
    std::string import_variable = "SMARTHOST_ADMIN_TOKEN";
    token_import->add_option("--name", import_name, "a unique name, recorded in the audit log")
        ->required();
    token_import
        ->add_option("--env", import_variable,
                     "the environment variable holding the token (never an argument: `ps` "
                     "shows those)")
        ->capture_default_str();

    auto* network_cmd = app.add_subcommand("network", "manage allow-listed networks");
    network_cmd->require_subcommand(1);
    auto* network_add = network_cmd->add_subcommand("add", "let a network relay for an account");
    std::string network_account, cidr;
    network_add->add_option("--account", network_account, "account name")->required();
    network_add->add_option("--cidr", cidr, "network, e.g. 192.0.2.0/24 or 2001:db8::/48")
        ->required();

    auto* dkim_cmd = app.add_subcommand("dkim", "manage DKIM keys of sender domains");
    dkim_cmd->require_subcommand(1);
    DkimKeyRequest dkim_request;
    auto* dkim_create_cmd = dkim_cmd->add_subcommand(
        "create", "make a key for a sender domain and print the TXT record to publish");
    auto* dkim_show_cmd =
        dkim_cmd->add_subcommand("show", "list a domain's keys with the TXT records to publish");
    for (auto* command : {dkim_create_cmd, dkim_show_cmd}) {
        command->add_option("--domain", dkim_request.domain, "sender domain")->required();
        command->add_option("--account", dkim_request.account,
                            "account name, when several accounts have the domain");
    }
    dkim_create_cmd
        ->add_option("--algorithm", dkim_request.algorithm, "rsa-sha256 or ed25519-sha256")
        ->capture_default_str();
    dkim_create_cmd->add_option("--selector", dkim_request.selector,
                                "selector (default: sh<year>q<quarter>)");
    auto* dkim_activate_cmd =
        dkim_cmd->add_subcommand("activate", "make a key the domain's signing key");
    std::int64_t dkim_key_id = 0;
    bool dkim_force = false;
    dkim_activate_cmd->add_option("--key", dkim_key_id, "key id")->required();
    dkim_activate_cmd->add_flag("--force", dkim_force,
                                "activate before the record is seen published");

    CLI11_PARSE(app, argc, argv);

    try {
        crypto::init();
        const Config config = load_config(config_path);
        init_logging(config.log_level,
                     config.log_format == "json" ? LogFormat::json : LogFormat::text);
        if (*serve_cmd) return serve(config, roles, check_only);
        if (*migrate_cmd) return migrate(config);
        if (*credential_set) return set_credential(config, credential);
        if (*network_add) return add_network(config, network_account, cidr);
        if (*token_create) return create_token(config, token_name);
        if (*token_import) return import_token(config, import_name, import_variable);
        if (*dkim_create_cmd) return dkim_create(config, dkim_request);
        if (*dkim_show_cmd) return dkim_show(config, dkim_request);
        if (*dkim_activate_cmd) return dkim_activate(config, dkim_key_id, dkim_force);
    } catch (const ConfigError& e) {
        std::cerr << "smarthost: configuration error: " << e.what() << '\n';
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "smarthost: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
