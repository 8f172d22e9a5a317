// fleetpulse: the command line. `serve` runs the server; `version` prints the version.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/config.h"
#include "app/logging.h"
#include "app/server.h"

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts; run_server waits for them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  CLI::App app{"fleetpulse: one server that monitors fleets of IoT devices"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "show help for every command");

  CLI::App* serve = app.add_subcommand("serve", "run the server");
  serve->footer(
      "Every option can also be set as FLEETPULSE_<NAME> in the environment (e.g.\n"
      "FLEETPULSE_OFFLINE_AFTER=10m) or as a key in the --config TOML file (offline_after =\n"
      "\"10m\"); flags override the environment, which overrides the file. Per device type:\n"
      "[device_types.camera] at_risk_after = \"10m\", offline_after = \"30m\", low_battery = 10.");
  std::map<std::string, std::string, std::less<>> flags;
  std::string config_path;
  serve->add_option("--config", config_path, "TOML configuration file (env FLEETPULSE_CONFIG)")
      ->type_name("FILE");
  for (const auto& o : fp::server_options()) {
    std::string name(o.name);
    serve
        ->add_option_function<std::string>(
            "--" + name, [&flags, name](const std::string& v) { flags[name] = v; },
            std::string(o.help))
        ->type_name(std::string(o.value_hint));
  }
  app.add_subcommand("version", "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (app.got_subcommand("version")) {
    std::cout << "fleetpulse 0.1.0\n";
    return 0;
  }

  auto getenv_fn = [](const std::string& n) -> std::optional<std::string> {
    const char* v = std::getenv(n.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  if (config_path.empty()) {
    if (auto v = getenv_fn("FLEETPULSE_CONFIG")) config_path = *v;
  }
  std::optional<std::string> toml_text;
  if (!config_path.empty()) {
    toml_text = read_file(config_path);
    if (!toml_text) {
      std::cerr << "fleetpulse: cannot read config file " << config_path << "\n";
      return 2;
    }
  }
  auto cfg = fp::build_server_config(flags, getenv_fn, toml_text, config_path);
  if (!cfg.ok()) {
    std::cerr << "fleetpulse: " << cfg.status().message() << "\n";
    return 2;
  }
  fp::init_logging(cfg->log_level);
  return fp::run_server(*cfg);
}
