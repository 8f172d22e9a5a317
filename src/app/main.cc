// fleetpulse: the command line. `serve` runs the server; `version` prints the version.

#include <malloc.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/check_command.h"
#include "app/config.h"
#include "app/logging.h"
#include "app/repair_command.h"
#include "app/server.h"
#include "model/time_format.h"
#include "simulate/simulator.h"

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
  sigaddset(&set, SIGHUP);  // reloads the HTTPS certificate (run_server)
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // engine (issue 16): one malloc arena per core, not glibc's 8: the head's vectors grow on the
  // commit thread while requests are built on the network threads, and every extra arena keeps
  // its own freed pages (default workload: peak RSS 374 -> 313 MiB, docs/benchmarks.md).
  mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));

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
  bool check_config = false;
  serve->add_flag("--check-config", check_config,
                  "parse and validate every option and the --config file, print the effective "
                  "configuration as TOML, and exit (0: valid; 2: the error on stderr)");
  for (const auto& o : fp::server_options()) {
    std::string name(o.name);
    serve
        ->add_option_function<std::string>(
            "--" + name, [&flags, name](const std::string& v) { flags[name] = v; },
            std::string(o.help))
        ->type_name(std::string(o.value_hint));
  }
  app.add_subcommand("version", "print the version");
  fp::add_check_command(app);
  fp::add_repair_command(app);

  fp::sim::SimulateOptions sim;
  std::string sim_rate, sim_duration = "60s", sim_history, sim_history_step = "1m",
                        sim_dropout_max = "8m", sim_heartbeat = "30s";
  CLI::App* simulate = app.add_subcommand(
      "simulate", "run a simulated fleet of devices against a server (demo data, load driver)");
  simulate
      ->add_option("--target", sim.target,
                   "the server's base URL, or mqtt://HOST[:PORT] to publish over MQTT")
      ->capture_default_str()
      ->type_name("URL");
  simulate->add_option("--api-key", sim.api_key, "API key (write role) when auth is on")
      ->envname("FLEETPULSE_API_KEY")
      ->type_name("KEY");
  simulate->add_option("--devices", sim.devices, "number of devices")->capture_default_str();
  simulate
      ->add_option("--rate", sim_rate,
                   "readings per second for the whole fleet (default: each device every 10 s), "
                   "or max = as fast as the server answers")
      ->type_name("N|max");
  simulate
      ->add_option("--duration", sim_duration,
                   "how long to report live (0 = only --history; forever = until Ctrl-C)")
      ->capture_default_str()
      ->type_name("DURATION");
  simulate->add_option("--history", sim_history, "backfill this much history first, e.g. 24h")
      ->type_name("DURATION");
  simulate->add_option("--history-step", sim_history_step, "time between backfilled readings")
      ->capture_default_str()
      ->type_name("DURATION");
  std::string sim_history_end;
  simulate
      ->add_option("--history-end", sim_history_end,
                   "time of the last backfilled reading (default: now); fixes the data for "
                   "reproducible runs")
      ->type_name("TIME");
  simulate->add_option("--seed", sim.seed, "random seed: the same seed gives the same fleet")
      ->capture_default_str();
  simulate->add_option("--connections", sim.connections, "HTTP connections (requests in flight)")
      ->capture_default_str();
  simulate->add_option("--batch", sim.batch, "readings per telemetry request")
      ->capture_default_str();
  simulate->add_option("--dropouts", sim.dropouts_per_hour, "dropouts per device per hour")
      ->capture_default_str();
  simulate->add_option("--dropout-max", sim_dropout_max, "longest dropout")
      ->capture_default_str()
      ->type_name("DURATION");
  simulate->add_option("--spikes", sim.spike_probability, "share of readings with a spike")
      ->capture_default_str();
  simulate
      ->add_option("--invalid", sim.invalid_probability,
                   "share of readings sent with a bad timestamp (the server must reject them)")
      ->capture_default_str();
  simulate->add_option("--heartbeat-interval", sim_heartbeat, "time between heartbeats")
      ->capture_default_str()
      ->type_name("DURATION");
  simulate->add_option("--prefix", sim.prefix, "device id prefix")->capture_default_str();
  simulate->add_flag("!--no-register", sim.register_devices,
                     "do not register devices first (they are auto-registered)");
  simulate->add_flag("!--no-progress", sim.progress, "no progress line on stderr");
  simulate
      ->add_option("--json-summary", sim.json_summary,
                   "also write the summary as JSON to FILE (- = stdout)")
      ->type_name("FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (app.got_subcommand("simulate")) {
    auto duration = [](const std::string& flag, const std::string& v, int64_t* out) {
      if (v.empty()) return true;
      if (auto ms = fp::parse_duration_ms(v)) {
        *out = *ms;
        return true;
      }
      if (v == "0") {
        *out = 0;
        return true;
      }
      std::cerr << "simulate: " << flag << " must be a duration like 30s, 10m, 24h; got '" << v
                << "'\n";
      return false;
    };
    if (sim_duration == "forever" || sim_duration == "inf") {
      sim.duration_ms = -1;
    } else if (!duration("--duration", sim_duration, &sim.duration_ms)) {
      return 2;
    }
    if (!duration("--history", sim_history, &sim.history_ms) ||
        !duration("--history-step", sim_history_step, &sim.history_step_ms) ||
        !duration("--dropout-max", sim_dropout_max, &sim.dropout_max_ms) ||
        !duration("--heartbeat-interval", sim_heartbeat, &sim.heartbeat_interval_ms))
      return 2;
    if (!sim_history_end.empty()) {
      auto t = fp::parse_time_bound(sim_history_end, 0);
      if (!t || *t <= 0) {
        std::cerr << "simulate: --history-end must be RFC 3339 or epoch milliseconds; got '"
                  << sim_history_end << "'\n";
        return 2;
      }
      sim.history_end_ms = *t;
    }
    if (sim_rate == "max") {
      sim.max_rate = true;
    } else if (!sim_rate.empty()) {
      try {
        size_t used = 0;
        sim.rate = std::stod(sim_rate, &used);
        if (used != sim_rate.size() || !(sim.rate > 0)) throw std::invalid_argument(sim_rate);
      } catch (const std::exception&) {
        std::cerr << "simulate: --rate must be a positive number or max; got '" << sim_rate
                  << "'\n";
        return 2;
      }
    }
    return fp::sim::run_simulation(sim);
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
  if (check_config) {
    std::cout << fp::effective_config_toml(*cfg);
    for (const auto& w : fp::config_warnings(*cfg))
      std::cerr << "fleetpulse: warning: " << w << "\n";
    std::cerr << "fleetpulse: configuration is valid\n";
    return 0;
  }
  fp::init_logging(cfg->log_level);
  return fp::run_server(*cfg);
}
