// The catalog's write queue (group commit): writes queued while the writer is busy commit
// together in one transaction, complete in queue order, an op that fails is rolled back alone
// and reported, and nothing is acknowledged before its commit (reopened to check).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "storage/catalog/queued_catalog.h"
#include "storage/catalog/write_queue.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

class CatalogWriteQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_catwq_");
    reopen();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    catalog_.reset();
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
    ASSERT_NE(catalog_->write_queue(), nullptr);
  }
  static Device device(const std::string& id) {
    Device d;
    d.device_id = id;
    d.name = "n-" + id;
    return d;
  }
  // Blocks the writer thread until the returned promise is set (so later writes pile up).
  std::promise<void> hold_writer() {
    std::promise<void> release;
    std::promise<void> entered;
    auto held = std::make_shared<std::shared_future<void>>(release.get_future().share());
    catalog_->write_queue()->submit(
        [held, &entered](Catalog&) {
          entered.set_value();
          held->wait();
          return Status::Ok();
        },
        {});
    entered.get_future().wait();
    return release;
  }

  ManualClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogWriteQueueTest, QueuedWritesCommitAsOneGroupInQueueOrder) {
  CatalogWriteQueue& q = *catalog_->write_queue();
  std::promise<void> release = hold_writer();
  const uint64_t groups_before = q.stats().groups;
  std::mutex mu;
  std::vector<int> completed;
  std::vector<Status> outcomes(20);
  std::promise<void> all_done;
  for (int i = 0; i < 20; ++i)
    q.submit([i](Catalog& c) { return c.create_device(device("d" + std::to_string(i))); },
             [&, i](Status s) {
               std::lock_guard lock(mu);
               outcomes[i] = s;
               completed.push_back(i);
               if (completed.size() == 20) all_done.set_value();
             });
  EXPECT_EQ(q.stats().depth, 20u);
  EXPECT_GE(q.stats().oldest_age_ms, 0);
  release.set_value();
  all_done.get_future().wait();
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(outcomes[i].ok()) << outcomes[i].message();
    EXPECT_EQ(completed[i], i);  // completed in the order queued
  }
  // The held group, then one group for the 20 writes queued behind it.
  EXPECT_EQ(q.stats().groups, groups_before + 2);
  reopen();
  EXPECT_EQ(*catalog_->count_devices(), 20);
}

TEST_F(CatalogWriteQueueTest, FailingWriteIsRolledBackAloneAndReported) {
  CatalogWriteQueue& q = *catalog_->write_queue();
  ASSERT_TRUE(catalog_->create_device(device("taken")).ok());
  std::promise<void> release = hold_writer();
  std::vector<std::promise<Status>> outcomes(3);
  // The middle op writes a row and then fails: its row must not survive.
  q.submit([](Catalog& c) { return c.create_device(device("a")); },
           [&](Status s) { outcomes[0].set_value(s); });
  q.submit(
      [](Catalog& c) {
        if (Status s = c.create_device(device("half")); !s.ok()) return s;
        return c.create_device(device("taken"));  // kAlreadyExists
      },
      [&](Status s) { outcomes[1].set_value(s); });
  q.submit([](Catalog& c) { return c.create_device(device("b")); },
           [&](Status s) { outcomes[2].set_value(s); });
  release.set_value();
  EXPECT_TRUE(outcomes[0].get_future().get().ok());
  EXPECT_EQ(outcomes[1].get_future().get().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(outcomes[2].get_future().get().ok());
  EXPECT_GE(q.stats().failed, 1u);
  reopen();
  EXPECT_TRUE(catalog_->get_device("a").ok());
  EXPECT_TRUE(catalog_->get_device("b").ok());
  EXPECT_FALSE(catalog_->get_device("half").ok());
}

TEST_F(CatalogWriteQueueTest, SynchronousWritesKeepTheirContractAndResults) {
  // The Catalog methods wait for their group's commit and return the method's own result.
  ASSERT_TRUE(catalog_->create_device(device("x")).ok());
  EXPECT_EQ(catalog_->create_device(device("x")).code(), StatusCode::kAlreadyExists);
  DeviceUpdate u;
  u.name = "renamed";
  auto updated = catalog_->update_device("x", u);
  ASSERT_TRUE(updated.ok()) << updated.status().message();
  EXPECT_EQ(updated->name, "renamed");
  EXPECT_EQ(catalog_->delete_device("nope").code(), StatusCode::kNotFound);
  // Many threads at once: every write lands, in fewer transactions than writes.
  CatalogWriteQueue& q = *catalog_->write_queue();
  const uint64_t groups_before = q.stats().groups;
  std::promise<void> release = hold_writer();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      if (catalog_->create_device(device("t" + std::to_string(t))).ok()) ++ok;
    });
  while (q.stats().depth < 8) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  release.set_value();
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(q.stats().groups, groups_before + 2);
}

TEST_F(CatalogWriteQueueTest, ACallbackMayWriteWithoutDeadlock) {
  std::promise<Status> inner;
  catalog_->write_queue()->submit([](Catalog& c) { return c.create_device(device("outer")); },
                                  [&](Status) {
                                    // On the writer thread: runs inline instead of waiting.
                                    inner.set_value(catalog_->create_device(device("inner")));
                                  });
  EXPECT_TRUE(inner.get_future().get().ok());
  reopen();
  EXPECT_TRUE(catalog_->get_device("inner").ok());
}

TEST_F(CatalogWriteQueueTest, DestructionCompletesEverythingQueued) {
  std::atomic<int> done{0};
  {
    std::promise<void> release = hold_writer();
    for (int i = 0; i < 5; ++i)
      write_later(
          *catalog_, [i](Catalog& c) { return c.create_device(device("q" + std::to_string(i))); },
          [&](Status s) { done += s.ok() ? 1 : 0; });
    release.set_value();
    catalog_.reset();  // drains, then joins the writer
  }
  EXPECT_EQ(done.load(), 5);
  reopen();
  EXPECT_EQ(*catalog_->count_devices(), 5);
}

}  // namespace
}  // namespace fp
