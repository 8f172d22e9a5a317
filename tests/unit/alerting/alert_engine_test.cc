// AlertEngine: every rule kind fires and resolves at the right moment (ManualClock), dedup,
// `for` durations, scopes, the lifecycle, and restoring open alerts from the catalog.

#include "alerting/alert_engine.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <string>

#include "unit/temp_dir.h"

namespace fp {
namespace {

constexpr int64_t kSec = 1000;

class AlertEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_alerts_");
    open_catalog("catalog.db");
    make_engine();
  }
  void open_catalog(const std::string& name) {
    engine_.reset();
    catalog_.reset();
    auto c = Catalog::open((dir_ / name).string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }
  void TearDown() override {
    engine_.reset();
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }

  void make_engine(std::vector<Rule> defaults = {}) {
    engine_.reset();
    engine_ = std::make_unique<AlertEngine>(
        *catalog_, clock_,
        [this](const std::string& id) -> std::optional<DeviceFacts> {
          auto it = facts_.find(id);
          if (it == facts_.end()) return std::nullopt;
          return it->second;
        },
        AlertEngineOptions{});
    engine_->add_listener([this](const AlertChange& c) { changes_.push_back(c); });
    engine_->set_device_source(
        [this] {
          std::vector<KnownDevice> out;
          for (const auto& [id, seen] : last_seen_)
            out.push_back({id, facts_.count(id) ? facts_[id] : DeviceFacts{}, seen});
          return out;
        },
        [this](const std::string& device, const std::string& metric) -> std::optional<int64_t> {
          auto it = metric_seen_.find(device + "/" + metric);
          if (it == metric_seen_.end()) return std::nullopt;
          return it->second;
        });
    Status s = engine_->load(defaults);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  Rule add(std::string_view json) {
    auto r = parse_rule(json, "");
    EXPECT_TRUE(r.ok()) << r.status().message();
    auto created = engine_->create_rule(*r);
    EXPECT_TRUE(created.ok()) << created.status().message();
    return *created;
  }

  // One reading of `metric` from `device`, stamped now.
  void reading(const std::string& device, const std::string& metric, double value) {
    auto b = std::make_shared<ReadingBatch>();
    b->add(b->intern_device(device), b->intern_metric(metric), clock_.now_ms(), value);
    CommittedWork w;
    w.batches.push_back(b);
    engine_->evaluate(w);
  }
  void heartbeat(const std::string& device, std::optional<double> battery) {
    CommittedWork w;
    w.heartbeats.push_back({device, battery});
    engine_->evaluate(w);
  }
  void status(const std::string& device, DeviceStatus from, DeviceStatus to) {
    CommittedWork w;
    w.transitions.push_back({device, from, to, "test", clock_.now_ms()});
    engine_->evaluate(w);
  }

  std::vector<Alert> stored(std::optional<AlertState> state = std::nullopt) {
    AlertQuery q;
    q.state = state;
    auto page = catalog_->list_alerts(q);
    EXPECT_TRUE(page.ok());
    return page->alerts;
  }
  int64_t open() const { return engine_->open_total(); }

  ManualClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<AlertEngine> engine_;
  std::map<std::string, DeviceFacts> facts_;
  std::map<std::string, std::optional<int64_t>> last_seen_;  // what the device source lists
  std::map<std::string, int64_t> metric_seen_;               // "device/metric" -> newest point
  std::vector<AlertChange> changes_;
};

TEST_F(AlertEngineTest, ThresholdFiresOnceAndResolvesWhenTheValueIsBack) {
  add(R"({"id":"hot","kind":"threshold","metric":"temperature","op":">","threshold":50,
          "severity":"critical"})");
  reading("d1", "temperature", 49);
  EXPECT_EQ(open(), 0);
  reading("d1", "temperature", 55);
  ASSERT_EQ(open(), 1);
  reading("d1", "temperature", 60);  // still hot: no second alert
  EXPECT_EQ(open(), 1);
  auto firing = stored(AlertState::kFiring);
  ASSERT_EQ(firing.size(), 1u);
  EXPECT_EQ(firing[0].rule_id, "hot");
  EXPECT_EQ(firing[0].device_id, "d1");
  EXPECT_EQ(firing[0].severity, Severity::kCritical);
  EXPECT_EQ(firing[0].value, 55);
  clock_.advance(5 * kSec);
  reading("d1", "temperature", 20);
  EXPECT_EQ(open(), 0);
  auto resolved = stored(AlertState::kResolved);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].resolved_by, "auto");
  EXPECT_EQ(*resolved[0].resolved_at_ms - resolved[0].started_at_ms, 5 * kSec);
  // Hot again: a new alert.
  reading("d1", "temperature", 70);
  EXPECT_EQ(open(), 1);
  EXPECT_EQ(stored().size(), 2u);
}

TEST_F(AlertEngineTest, OneOpenAlertPerRuleAndDevice) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1})");
  add(R"({"id":"hotter","kind":"threshold","metric":"t","threshold":2})");
  reading("d1", "t", 5);
  reading("d2", "t", 5);
  reading("d1", "t", 6);
  EXPECT_EQ(open(), 4);  // 2 rules x 2 devices
}

TEST_F(AlertEngineTest, ThresholdWithForWaitsUntilTheConditionIsSustained) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","op":">=","threshold":50,"for":"30s"})");
  reading("d1", "t", 50);
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(29 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(1 * kSec);
  engine_->tick();  // 30 s sustained, without a new reading
  EXPECT_EQ(open(), 1);
}

TEST_F(AlertEngineTest, ForIsResetWhenTheConditionClearsInBetween) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":50,"for":"10s"})");
  reading("d1", "t", 60);
  clock_.advance(9 * kSec);
  reading("d1", "t", 40);  // clears
  clock_.advance(1 * kSec);
  reading("d1", "t", 60);  // true again: the 10 s start now
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(9 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(1 * kSec);
  reading("d1", "t", 61);
  EXPECT_EQ(open(), 1);
}

TEST_F(AlertEngineTest, RangeFiresOutsideMinMaxOnly) {
  add(R"({"id":"temp","kind":"range","metric":"temperature","min":-10,"max":50})");
  reading("d1", "temperature", -10);
  reading("d1", "temperature", 50);
  EXPECT_EQ(open(), 0);
  reading("d1", "temperature", -10.5);
  EXPECT_EQ(open(), 1);
  reading("d1", "temperature", 51);  // still outside: same alert
  EXPECT_EQ(open(), 1);
  reading("d1", "temperature", 20);
  EXPECT_EQ(open(), 0);
  EXPECT_EQ(stored().size(), 1u);
}

TEST_F(AlertEngineTest, RateComparesTheChangePerWindow) {
  // More than 5 units per minute.
  add(R"({"id":"fast","kind":"rate","metric":"t","op":">","threshold":5,"window":"1m"})");
  reading("d1", "t", 10);
  clock_.advance(60 * kSec);
  reading("d1", "t", 14);  // +4/min
  EXPECT_EQ(open(), 0);
  clock_.advance(30 * kSec);
  reading("d1", "t", 17);  // +3 in 30 s = +6/min
  ASSERT_EQ(open(), 1);
  EXPECT_DOUBLE_EQ(*stored()[0].value, 6.0);
  clock_.advance(60 * kSec);
  reading("d1", "t", 18);  // +1/min
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, AbsenceFiresAfterSilenceAndResolvesOnTheNextReading) {
  add(R"({"id":"quiet","kind":"absence","metric":"t","for":"60s"})");
  reading("d1", "t", 1);
  clock_.advance(59 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(1 * kSec);
  engine_->tick();
  ASSERT_EQ(open(), 1);
  engine_->tick();
  EXPECT_EQ(open(), 1);
  reading("d1", "other_metric", 1);  // another metric does not count
  EXPECT_EQ(open(), 1);
  reading("d1", "t", 2);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, AbsenceWithoutMetricCountsHeartbeats) {
  add(R"({"id":"silent","kind":"absence","for":"2m"})");
  heartbeat("d1", std::nullopt);
  clock_.advance(90 * kSec);
  heartbeat("d1", std::nullopt);
  clock_.advance(90 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(30 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 1);
  reading("d1", "anything", 3);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, OfflineFiresOnTheTransitionAndResolvesWhenBack) {
  add(R"({"id":"off","kind":"offline","severity":"critical"})");
  status("d1", DeviceStatus::kOnline, DeviceStatus::kAtRisk);
  EXPECT_EQ(open(), 0);
  status("d1", DeviceStatus::kAtRisk, DeviceStatus::kOffline);
  ASSERT_EQ(open(), 1);
  EXPECT_FALSE(stored()[0].value.has_value());
  status("d1", DeviceStatus::kOffline, DeviceStatus::kOnline);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, OfflineForWaitsTheDuration) {
  add(R"({"id":"off","kind":"offline","for":"5m"})");
  status("d1", DeviceStatus::kAtRisk, DeviceStatus::kOffline);
  clock_.advance(4 * 60 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(60 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 1);
}

TEST_F(AlertEngineTest, LowBatteryFromHeartbeatsAndReadings) {
  add(R"({"id":"batt","kind":"low_battery","threshold":15})");
  heartbeat("d1", 16);
  EXPECT_EQ(open(), 0);
  heartbeat("d1", 14.5);
  EXPECT_EQ(open(), 1);
  heartbeat("d1", std::nullopt);  // no battery: no verdict
  EXPECT_EQ(open(), 1);
  reading("d1", "battery_level", 80);
  EXPECT_EQ(open(), 0);
  reading("d2", "battery", 3);
  EXPECT_EQ(open(), 1);
}

TEST_F(AlertEngineTest, LowBatteryDefaultsToTheStatusThreshold) {
  add(R"({"id":"batt","kind":"low_battery"})");
  heartbeat("d1", 20);
  EXPECT_EQ(open(), 0);
  heartbeat("d1", 19.9);
  EXPECT_EQ(open(), 1);
}

TEST_F(AlertEngineTest, AnomalyFiresOnAnOutlierAfterLearning) {
  add(R"({"id":"odd","kind":"anomaly","metric":"t","threshold":4,"min_samples":10})");
  // A steady series with small noise: never anomalous.
  for (int i = 0; i < 40; ++i) {
    reading("d1", "t", 20 + (i % 2 ? 0.5 : -0.5));
    clock_.advance(kSec);
  }
  EXPECT_EQ(open(), 0);
  reading("d1", "t", 35);
  ASSERT_EQ(open(), 1);
  EXPECT_GT(*stored()[0].value, 4.0);  // the z-score
  reading("d1", "t", 20.5);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, AnomalyStaysQuietWhileLearning) {
  add(R"({"id":"odd","kind":"anomaly","metric":"t","min_samples":5})");
  reading("d1", "t", 1);
  reading("d1", "t", 1000);
  reading("d1", "t", -50);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, StuckFiresWhenTheValueStopsChanging) {
  add(R"({"id":"stuck","kind":"stuck","metric":"t","for":"10m","tolerance":0.01})");
  reading("d1", "t", 5);
  clock_.advance(5 * 60 * kSec);
  reading("d1", "t", 5.005);  // within tolerance: unchanged
  clock_.advance(5 * 60 * kSec - 1);
  reading("d1", "t", 5);
  EXPECT_EQ(open(), 0);
  clock_.advance(1);
  reading("d1", "t", 5);
  ASSERT_EQ(open(), 1);
  reading("d1", "t", 6);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, ScopeByTypeLocationAndDevices) {
  facts_["p1"] = {"pump", "hall-a"};
  facts_["p2"] = {"pump", "hall-b"};
  facts_["s1"] = {"sensor", "hall-a"};
  add(R"({"id":"pumps","kind":"threshold","metric":"t","threshold":1,"scope":{"type":"pump"}})");
  add(R"({"id":"hall","kind":"threshold","metric":"t","threshold":1,
          "scope":{"location":"hall-a"}})");
  add(R"({"id":"list","kind":"threshold","metric":"t","threshold":1,
          "scope":{"devices":["p2","x9"]}})");
  for (const char* d : {"p1", "p2", "s1", "x9", "unknown"}) reading(d, "t", 5);
  std::multiset<std::string> fired;
  for (const Alert& a : stored()) fired.insert(a.rule_id + "/" + a.device_id);
  EXPECT_EQ(fired, (std::multiset<std::string>{"pumps/p1", "pumps/p2", "hall/p1", "hall/s1",
                                               "list/p2", "list/x9"}));
}

TEST_F(AlertEngineTest, DisabledRulesDoNotFire) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1,"enabled":false})");
  reading("d1", "t", 5);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, LifecycleAcknowledgeThenResolveByHand) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1})");
  reading("d1", "t", 5);
  const int64_t id = stored()[0].id;
  clock_.advance(kSec);
  auto acked = engine_->acknowledge(id, "alice", "looking");
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->state, AlertState::kAcknowledged);
  EXPECT_EQ(acked->acknowledged_by, "alice");
  EXPECT_EQ(acked->note, "looking");
  EXPECT_EQ(*acked->acknowledged_at_ms, clock_.now_ms());
  EXPECT_EQ(engine_->open_total(), 1);  // acknowledged is still open
  auto resolved = engine_->resolve(id, "bob", "fixed");
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->state, AlertState::kResolved);
  EXPECT_EQ(resolved->resolved_by, "bob");
  EXPECT_EQ(engine_->resolve(id, "bob", "").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->acknowledge(id, "x", "").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->acknowledge(999, "x", "").status().code(), StatusCode::kNotFound);
  // Still hot: no new alert until the condition clears and comes back.
  reading("d1", "t", 6);
  EXPECT_EQ(open(), 0);
  reading("d1", "t", 0);
  reading("d1", "t", 6);
  EXPECT_EQ(open(), 1);
  auto all = stored();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].state, AlertState::kResolved);  // history kept (newest first)
}

TEST_F(AlertEngineTest, ManualAlertsAreOpenUntilResolved) {
  auto a = engine_->raise({"d7", Severity::kCritical, "smoke seen", 1.0});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rule_id, "");
  EXPECT_EQ(engine_->open_counts()[static_cast<size_t>(Severity::kCritical)], 1);
  EXPECT_TRUE(engine_->resolve(a->id, "carol", "").ok());
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, OpenAlertsSurviveARestartAndStillResolveByThemselves) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1})");
  reading("d1", "t", 5);
  make_engine();  // restart: rules and open alerts from the catalog
  EXPECT_EQ(open(), 1);
  reading("d1", "t", 6);  // dedup across the restart
  EXPECT_EQ(open(), 1);
  reading("d1", "t", 0);
  EXPECT_EQ(open(), 0);
  reading("d1", "t", 7);
  EXPECT_EQ(stored().size(), 2u);
  EXPECT_GT(stored()[0].id, stored()[1].id);  // ids keep increasing after the restart
}

TEST_F(AlertEngineTest, DefaultRulesAreSeededOnceOnly) {
  auto rule = parse_rule(R"({"id":"default-temp","kind":"range","metric":"temperature",
                             "min":-10,"max":50})",
                         "");
  ASSERT_TRUE(rule.ok());
  open_catalog("fresh.db");  // a first start
  make_engine({*rule});
  ASSERT_EQ(engine_->rules().size(), 1u);
  ASSERT_TRUE(engine_->delete_rule("default-temp").ok());
  make_engine({*rule});  // restart: the operator's deletion stands
  EXPECT_TRUE(engine_->rules().empty());
}

TEST_F(AlertEngineTest, DeletingARuleResolvesItsAlerts) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1})");
  reading("d1", "t", 5);
  ASSERT_TRUE(engine_->delete_rule("hot").ok());
  EXPECT_EQ(open(), 0);
  EXPECT_EQ(stored(AlertState::kResolved)[0].resolved_by, "rule_deleted");
  EXPECT_EQ(engine_->delete_rule("hot").code(), StatusCode::kNotFound);
}

TEST_F(AlertEngineTest, ListenersSeeEveryChangeWithTheRulesWebhooks) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1,
          "notify":[{"webhook":"http://203.0.113.5:9/hook"}]})");
  reading("d1", "t", 5);
  reading("d1", "t", 0);
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_EQ(changes_[0].alert.state, AlertState::kFiring);
  EXPECT_EQ(changes_[1].alert.state, AlertState::kResolved);
  EXPECT_EQ(changes_[0].webhooks, std::vector<std::string>{"http://203.0.113.5:9/hook"});
}

TEST_F(AlertEngineTest, TheQueueRefusesWorkBeyondItsBound) {
  // Not started: nothing drains the queue.
  AlertEngine small(*catalog_, clock_, nullptr, AlertEngineOptions{20, 2});
  CommittedWork w;
  w.heartbeats.push_back({"d1", 50.0});
  EXPECT_TRUE(small.submit(w));
  EXPECT_TRUE(small.submit(w));
  EXPECT_FALSE(small.submit(w));
  EXPECT_EQ(small.dropped(), 1u);
}

TEST_F(AlertEngineTest, TheEngineThreadEvaluatesSubmittedWork) {
  add(R"({"id":"batt","kind":"low_battery"})");
  engine_->start();
  CommittedWork w;
  w.heartbeats.push_back({"d1", 5.0});
  ASSERT_TRUE(engine_->submit(w));
  for (int i = 0; i < 500 && open() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(open(), 1);
  engine_->stop();
}

TEST_F(AlertEngineTest, ForgettingADeviceResolvesItsAlerts) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1})");
  reading("d1", "t", 5);
  reading("d2", "t", 5);
  engine_->raise({"d1", Severity::kInfo, "by hand", std::nullopt});
  engine_->forget_device("d1");
  EXPECT_EQ(open(), 1);  // d2's
  for (const Alert& a : stored(AlertState::kResolved)) {
    EXPECT_EQ(a.device_id, "d1");
    EXPECT_EQ(a.resolved_by, "device_deleted");
  }
  reading("d1", "t", 5);  // a device of the same id starts afresh
  EXPECT_EQ(open(), 2);
}

TEST_F(AlertEngineTest, ReplacingARuleKeepsItsOpenAlertsAndDisablingResolvesThem) {
  Rule r = add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1})");
  reading("d1", "t", 5);
  r.threshold = 2;
  ASSERT_TRUE(engine_->replace_rule(r).ok());
  reading("d1", "t", 6);  // still the same open alert
  EXPECT_EQ(stored().size(), 1u);
  r.enabled = false;
  ASSERT_TRUE(engine_->replace_rule(r).ok());
  EXPECT_EQ(open(), 0);
  EXPECT_EQ(stored(AlertState::kResolved)[0].resolved_by, "rule_disabled");
  reading("d1", "t", 7);
  EXPECT_EQ(open(), 0);
  EXPECT_EQ(engine_->replace_rule(*parse_rule(R"({"kind":"offline"})", "nope")).status().code(),
            StatusCode::kNotFound);
}

TEST_F(AlertEngineTest, AbsenceWatchesDevicesSilentSinceBeforeARestart) {
  add(R"({"id":"quiet","kind":"absence","for":"60s"})");
  add(R"({"id":"no_t","kind":"absence","metric":"t","for":"60s","scope":{"type":"pump"}})");
  const int64_t seen = clock_.now_ms();
  last_seen_["d1"] = seen;  // reported, then the server restarted
  last_seen_["never"] = std::nullopt;
  facts_["d1"] = {"pump", ""};
  metric_seen_["d1/t"] = seen - 2 * kSec;  // its clock a little behind: the same report
  clock_.advance(10 * kSec);
  make_engine();
  clock_.advance(49 * kSec);
  engine_->tick();
  EXPECT_EQ(open(), 0);
  clock_.advance(1 * kSec);  // 60 s after the last report, not after the restart
  engine_->tick();
  ASSERT_EQ(open(), 2);
  for (const Alert& a : stored()) {
    EXPECT_EQ(a.device_id, "d1");
    EXPECT_EQ(a.condition_at_ms, seen + 60 * kSec);
  }
  make_engine();  // open alerts are not raised again
  clock_.advance(5 * kSec);
  engine_->tick();
  EXPECT_EQ(stored().size(), 2u);
  reading("d1", "t", 1);
  EXPECT_EQ(open(), 0);
}

TEST_F(AlertEngineTest, AMetricAbsenceStartsFromTheMetricsLastPointWhenItStoppedEarlier) {
  const int64_t seen = clock_.now_ms();
  last_seen_["d1"] = seen;
  metric_seen_["d1/t"] = seen - 300 * kSec;  // t stopped 5 min before the device did
  last_seen_["d2"] = seen;                   // never sent t: not watched for it
  add(R"({"id":"no_t","kind":"absence","metric":"t","for":"60s"})");  // created now
  engine_->tick();
  ASSERT_EQ(open(), 1);
  EXPECT_EQ(stored()[0].device_id, "d1");
  EXPECT_EQ(stored()[0].condition_at_ms, seen - 240 * kSec);
  EXPECT_EQ(stored()[0].started_at_ms, seen);
}

TEST_F(AlertEngineTest, ConditionTimeIsTheReadingsTimeAndSurvivesInTheCatalog) {
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1})");
  add(R"({"id":"slow","kind":"threshold","metric":"u","threshold":1,"for":"10s"})");
  const int64_t then = clock_.now_ms() - 7'200 * kSec;  // backfilled: two hours old
  auto b = std::make_shared<ReadingBatch>();
  b->add(b->intern_device("d1"), b->intern_metric("t"), then, 5);
  CommittedWork w;
  w.batches.push_back(b);
  engine_->evaluate(w);
  ASSERT_EQ(stored().size(), 1u);
  EXPECT_EQ(stored()[0].condition_at_ms, then);
  EXPECT_EQ(stored()[0].started_at_ms, clock_.now_ms());
  // `for`: the condition happened at the first reading of the run.
  const int64_t first = clock_.now_ms();
  reading("d2", "u", 5);
  clock_.advance(5 * kSec);
  reading("d2", "u", 6);
  clock_.advance(5 * kSec);
  engine_->tick();
  AlertQuery q;
  q.device_id = "d2";
  auto page = catalog_->list_alerts(q);
  ASSERT_EQ(page->alerts.size(), 1u);
  EXPECT_EQ(page->alerts[0].condition_at_ms, first);
  EXPECT_EQ(page->alerts[0].started_at_ms, first + 10 * kSec);
  // Offline: the transition's time; manual: when raised.
  add(R"({"id":"off","kind":"offline"})");
  CommittedWork t;
  t.transitions.push_back({"d3", DeviceStatus::kOnline, DeviceStatus::kOffline, "", first - kSec});
  engine_->evaluate(t);
  q.device_id = "d3";
  EXPECT_EQ(catalog_->list_alerts(q)->alerts[0].condition_at_ms, first - kSec);
  auto manual = engine_->raise({"d4", Severity::kInfo, "by hand", std::nullopt});
  EXPECT_EQ(manual->condition_at_ms, manual->started_at_ms);
  EXPECT_EQ(catalog_->get_alert(manual->id)->condition_at_ms, manual->started_at_ms);
}

// An outbox that records what the engine hands it, to check the deliveries are stored with
// the change.
class RecordingOutbox : public AlertOutbox {
 public:
  std::vector<WebhookDelivery> plan(const AlertChange& c) override {
    std::vector<WebhookDelivery> out;
    for (const auto& url : c.webhooks) {
      WebhookDelivery d;
      d.alert_id = c.alert.id;
      d.url = url;
      d.payload = "{}";
      out.push_back(d);
    }
    return out;
  }
  void queued(std::vector<WebhookDelivery> d) override {
    for (auto& x : d) got.push_back(std::move(x));
  }
  std::vector<WebhookDelivery> got;
};

TEST_F(AlertEngineTest, WebhookDeliveriesAreStoredWithTheAlertChange) {
  RecordingOutbox outbox;
  engine_->set_outbox(&outbox);
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":1,
          "notify":[{"webhook":"http://203.0.113.5:9/a"},{"webhook":"http://203.0.113.5:9/b"}]})");
  reading("d1", "t", 5);
  ASSERT_EQ(outbox.got.size(), 2u);
  auto rows = catalog_->load_deliveries(0, 10);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].id, outbox.got[0].id);
  EXPECT_NE(outbox.got[0].id, 0);
  EXPECT_EQ((*rows)[1].url, "http://203.0.113.5:9/b");
  EXPECT_EQ((*rows)[0].alert_id, stored()[0].id);
  engine_->set_outbox(nullptr);
}

// Cluster mode: timers run only for the devices this node owns now (set_owner_filter).
TEST_F(AlertEngineTest, TimersRunOnlyForOwnedDevices) {
  add(R"({"id":"quiet","kind":"absence","for":"60s"})");
  add(R"({"id":"hot","kind":"threshold","metric":"t","threshold":50,"for":"30s"})");
  std::set<std::string> owned = {"mine"};
  engine_->set_owner_filter([&owned](const std::string& d) { return owned.contains(d); });
  for (const char* d : {"mine", "lost"}) reading(d, "t", 60);
  clock_.advance(61 * kSec);
  engine_->tick();
  ASSERT_EQ(open(), 2);  // absence and `for` for "mine" only
  for (const Alert& a : stored()) EXPECT_EQ(a.device_id, "mine");
  owned.insert("lost");  // the partition comes back: its timers run again
  engine_->tick();
  EXPECT_EQ(open(), 4);
}

// Cluster failover (docs/cluster.md): the new owner adopts the open alerts the previous owner
// left; the condition holding on raises nothing, its clearing resolves the alert once.
TEST_F(AlertEngineTest, AdoptedAlertIsContinuedNotRaisedAgain) {
  add(R"({"id":"off","kind":"offline"})");
  Alert carried;
  carried.rule_id = "off";
  carried.device_id = "moved";
  carried.message = "device offline (rule off)";
  carried.started_at_ms = carried.condition_at_ms = carried.updated_at_ms = clock_.now_ms();
  carried.version = 1;
  Alert other = carried;
  other.device_id = "elsewhere";  // not in the gained partitions: ignored
  engine_->adopt([](const std::string& d) { return d != "elsewhere"; }, {carried, other});
  ASSERT_EQ(open(), 1);
  ASSERT_EQ(stored().size(), 1u);
  EXPECT_EQ(stored()[0].device_id, "moved");
  EXPECT_TRUE(changes_.empty());  // no webhook, no listener: nothing new happened
  status("moved", DeviceStatus::kOnline, DeviceStatus::kOffline);  // the replay's transition
  EXPECT_EQ(open(), 1);
  EXPECT_TRUE(changes_.empty());
  status("moved", DeviceStatus::kOffline, DeviceStatus::kOnline);
  EXPECT_EQ(open(), 0);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].alert.state, AlertState::kResolved);
}

// A partition coming back: an alert still open here but no longer carried was resolved by the
// other owner meanwhile: closed quietly; one carried and still open here stays as it is.
TEST_F(AlertEngineTest, AdoptClosesWhatAnotherOwnerResolved) {
  add(R"({"id":"off","kind":"offline"})");
  status("gone", DeviceStatus::kOnline, DeviceStatus::kOffline);
  status("kept", DeviceStatus::kOnline, DeviceStatus::kOffline);
  ASSERT_EQ(open(), 2);
  changes_.clear();
  Alert kept = stored(AlertState::kFiring)[0].device_id == "kept" ? stored(AlertState::kFiring)[0]
                                                                  : stored(AlertState::kFiring)[1];
  engine_->adopt([](const std::string&) { return true; }, {kept});
  EXPECT_EQ(open(), 1);
  EXPECT_TRUE(changes_.empty());
  auto resolved = stored(AlertState::kResolved);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].device_id, "gone");
  EXPECT_EQ(resolved[0].resolved_by, "cluster");
  EXPECT_EQ(stored().size(), 2u);                                 // "kept" not stored twice
  status("gone", DeviceStatus::kOnline, DeviceStatus::kOffline);  // fires again: a new episode
  EXPECT_EQ(open(), 2);
}

// Cluster mode: a manual alert carried from the previous owner is open here under the id the
// client was given; acknowledging and resolving it by that id works once; carried ids of rule
// alerts are kept too, and new alerts take their ids from the allocator.
TEST_F(AlertEngineTest, AdoptedManualAlertKeepsItsIdAndResolvesOnce) {
  add(R"({"id":"off","kind":"offline"})");
  engine_->set_id_allocator([](const std::string&, int64_t) {
    static int64_t next = 1000;
    return next += 16;
  });
  Alert manual;
  manual.id = 777;
  manual.device_id = "moved";
  manual.message = "raised by hand";
  manual.started_at_ms = manual.condition_at_ms = manual.updated_at_ms = clock_.now_ms();
  manual.version = 1;
  Alert rule_alert = manual;
  rule_alert.id = 555;
  rule_alert.rule_id = "off";
  rule_alert.message = "device offline (rule off)";
  engine_->adopt([](const std::string&) { return true; }, {manual, rule_alert});
  EXPECT_EQ(open(), 2);
  EXPECT_TRUE(changes_.empty());
  ASSERT_TRUE(catalog_->get_alert(777).ok());
  ASSERT_TRUE(catalog_->get_alert(555).ok());
  auto acked = engine_->acknowledge(777, "carol", "looking");
  ASSERT_TRUE(acked.ok()) << acked.status().message();
  EXPECT_EQ(acked->version, 2);
  auto done = engine_->resolve(777, "carol", "");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(engine_->resolve(777, "carol", "").status().code(), StatusCode::kAlreadyExists);
  auto raised = engine_->raise({"moved", Severity::kInfo, "again", std::nullopt});
  ASSERT_TRUE(raised.ok());
  EXPECT_EQ(raised->id, 1016);  // from the allocator
}

// A partition coming back: an open manual alert here that another owner acknowledged
// meanwhile takes the carried (newer) state; one the bucket no longer has is closed quietly.
TEST_F(AlertEngineTest, AdoptTakesNewerCarriedStateAndClosesResolvedManualAlerts) {
  auto kept = engine_->raise({"d1", Severity::kWarning, "one", std::nullopt});
  auto gone = engine_->raise({"d2", Severity::kWarning, "two", std::nullopt});
  ASSERT_TRUE(kept.ok() && gone.ok());
  changes_.clear();
  Alert acked = *kept;
  acked.state = AlertState::kAcknowledged;
  acked.acknowledged_by = "elsewhere";
  acked.version = 2;
  engine_->adopt([](const std::string&) { return true; }, {acked});
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(open(), 1);
  auto k = catalog_->get_alert(kept->id);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->state, AlertState::kAcknowledged);
  EXPECT_EQ(k->acknowledged_by, "elsewhere");
  auto g = catalog_->get_alert(gone->id);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->state, AlertState::kResolved);
  EXPECT_EQ(g->resolved_by, "cluster");
}

// A new cluster owner replays the stream: absence timers count from the reports' receive
// times, and a replayed report older than an adopted absence alert does not clear it.
TEST_F(AlertEngineTest, AbsenceCountsFromReceiveTimeAndReplaysKeepAdoptedAlerts) {
  add(R"({"id":"quiet","kind":"absence","for":"60s"})");
  const int64_t sent = clock_.now_ms();
  clock_.advance(45 * kSec);  // the replay runs 45 s after the report came
  CommittedWork w;
  w.heartbeats.push_back({"late", std::nullopt, sent});
  engine_->evaluate(w);
  clock_.advance(15 * kSec);
  engine_->tick();
  ASSERT_EQ(open(), 1) << "60 s after the report, not after the replay";
  // Adopted elsewhere: the same report replayed again (older than the alert) keeps it open.
  changes_.clear();
  engine_->evaluate(w);
  EXPECT_EQ(open(), 1);
  EXPECT_TRUE(changes_.empty());
  // A report after the silence began resolves it.
  heartbeat("late", std::nullopt);
  EXPECT_EQ(open(), 0);
}

}  // namespace
}  // namespace fp
