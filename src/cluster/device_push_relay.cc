#include "cluster/device_push_relay.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <string_view>

#include "cluster/nats_error.h"

namespace fp::cluster {
namespace {
constexpr const char* kConfigSubject = "fleetpulse.push.config";
constexpr const char* kCommandSubject = "fleetpulse.push.command";
constexpr const char* kAllSubjects = "fleetpulse.push.*";
}  // namespace

struct DevicePushRelay::Impl {
  DevicePushRelayOptions options;  // constant after Start
  DevicePushTargets targets;       // constant after Start
  natsOptions* nopts = nullptr;
  natsConnection* nc = nullptr;
  natsSubscription* sub = nullptr;
  std::mutex mu;         // held while a message is handled; Stop takes it to wait for one
  bool stopped = false;  // guarded by mu

  ~Impl() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
    if (nc != nullptr) natsConnection_Destroy(nc);
    if (nopts != nullptr) natsOptions_Destroy(nopts);
  }

  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    static_cast<Impl*>(closure)->Handle(msg);
    natsMsg_Destroy(msg);
  }

  void Handle(natsMsg* msg) {
    auto p = DecodeDevicePush(
        std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
    if (!p.ok()) {
      spdlog::warn("event=device_push_refused reason=\"{}\"", p.status().message());
      return;
    }
    if (p->origin == options.node_id) return;  // this node pushed it itself
    std::lock_guard lock(mu);
    if (stopped) return;
    if (p->kind == DevicePush::Kind::kConfig) {
      if (targets.knows_device(p->device_id)) targets.push_config(p->device_id, p->payload);
      return;
    }
    const char* reply = natsMsg_GetReply(msg);
    if (reply == nullptr || !targets.connected(p->device_id)) return;  // another node answers
    std::optional<CommandDelivery> d = targets.push_command(p->device_id, p->payload);
    if (!d) return;
    d->node = options.node_id;
    const std::string answer = EncodeCommandDelivery(*d);
    natsStatus s =
        natsConnection_Publish(nc, reply, answer.data(), static_cast<int>(answer.size()));
    if (s != NATS_OK)
      spdlog::warn("event=device_command_answer_failed device={} reason=\"{}\"", p->device_id,
                   NatsErrorText(s));
  }
};

Result<std::unique_ptr<DevicePushRelay>> DevicePushRelay::Start(const DevicePushRelayOptions& o,
                                                                DevicePushTargets targets) {
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  impl->targets = std::move(targets);
  std::vector<const char*> urls;
  for (const auto& u : o.nats) urls.push_back(u.c_str());
  natsStatus s = natsOptions_Create(&impl->nopts);
  if (s == NATS_OK)
    s = natsOptions_SetServers(impl->nopts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(impl->nopts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(impl->nopts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(impl->nopts, 2'000);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(impl->nopts, true, nullptr, nullptr);
  if (s != NATS_OK) return Status::Internal("NATS options: " + NatsErrorText(s));
  s = natsConnection_Connect(&impl->nc, impl->nopts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED)
    return Status::Unavailable("device push relay: cannot connect to NATS: " + NatsErrorText(s));
  s = natsConnection_Subscribe(&impl->sub, impl->nc, kAllSubjects, &Impl::OnMsg, impl.get());
  if (s != NATS_OK) return Status::Unavailable("device push relay: subscribe: " + NatsErrorText(s));
  // The subscription is known to the server before the first push of this node can matter.
  natsConnection_FlushTimeout(impl->nc, 2'000);
  return std::unique_ptr<DevicePushRelay>(new DevicePushRelay(std::move(impl)));
}

DevicePushRelay::DevicePushRelay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DevicePushRelay::~DevicePushRelay() {
  Stop();
}

void DevicePushRelay::PublishConfig(const std::string& device_id, const std::string& config_json) {
  const std::string body =
      EncodeDevicePush({DevicePush::Kind::kConfig, impl_->options.node_id, device_id, config_json});
  natsStatus s =
      natsConnection_Publish(impl_->nc, kConfigSubject, body.data(), static_cast<int>(body.size()));
  if (s != NATS_OK)
    spdlog::warn("event=device_config_relay_failed device={} reason=\"{}\"", device_id,
                 NatsErrorText(s));
}

std::optional<CommandDelivery> DevicePushRelay::AskToDeliver(const std::string& device_id,
                                                             const std::string& payload) {
  const std::string body =
      EncodeDevicePush({DevicePush::Kind::kCommand, impl_->options.node_id, device_id, payload});
  natsMsg* reply = nullptr;
  natsStatus s =
      natsConnection_Request(&reply, impl_->nc, kCommandSubject, body.data(),
                             static_cast<int>(body.size()), impl_->options.command_wait_ms);
  if (s != NATS_OK) {
    if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS)
      spdlog::warn("event=device_command_relay_failed device={} reason=\"{}\"", device_id,
                   NatsErrorText(s));
    return std::nullopt;
  }
  auto d = DecodeCommandDelivery(
      std::string_view(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply))));
  natsMsg_Destroy(reply);
  if (!d.ok()) {
    spdlog::warn("event=device_command_relay_failed device={} reason=\"{}\"", device_id,
                 d.status().message());
    return std::nullopt;
  }
  return std::move(*d);
}

void DevicePushRelay::Stop() {
  {
    std::lock_guard lock(impl_->mu);  // a message being handled finishes first
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  // No callback runs after this (the library's delivery thread is done with the subscription),
  // so the targets and Impl may go; a drain that cannot start (NATS down) unsubscribes at once.
  if (natsSubscription_DrainTimeout(impl_->sub, 2'000) == NATS_OK)
    natsSubscription_WaitForDrainCompletion(impl_->sub, 3'000);
  else
    natsSubscription_Unsubscribe(impl_->sub);
}

}  // namespace fp::cluster
