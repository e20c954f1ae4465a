// VmService: VM records (desired state). Writes go through Raft; reads are
// linearizable unless the request asks for stale.
#pragma once

#include "blixard/v1/blixard.grpc.pb.h"
#include "node/node.h"

namespace blixard::api {

class VmServiceImpl final : public v1::VmService::Service {
 public:
  explicit VmServiceImpl(node::Node& node);

  grpc::Status CreateVm(grpc::ServerContext*, const v1::CreateVmRequest*,
                        v1::CreateVmResponse*) override;
  grpc::Status StartVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status StopVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status DeleteVm(grpc::ServerContext*, const v1::VmNameRequest*,
                        v1::DeleteVmResponse*) override;
  grpc::Status GetVm(grpc::ServerContext*, const v1::GetVmRequest*, v1::VmResponse*) override;
  grpc::Status ListVms(grpc::ServerContext*, const v1::ListVmsRequest*,
                       v1::ListVmsResponse*) override;
  grpc::Status WatchVms(grpc::ServerContext*, const v1::WatchVmsRequest*,
                        grpc::ServerWriter<v1::VmEvent>*) override;
  grpc::Status StreamVmLogs(grpc::ServerContext*, const v1::VmLogsRequest*,
                            grpc::ServerWriter<v1::VmLogChunk>*) override;

 private:
  grpc::Status Write(grpc::ServerContext* ctx, v1::Command cmd, v1::Vm* out);
  grpc::Status SetDesired(grpc::ServerContext* ctx, const std::string& name,
                          v1::DesiredState desired, v1::VmResponse* resp);
  grpc::Status Barrier(grpc::ServerContext* ctx, bool stale);
  node::Node& node_;
};

}  // namespace blixard::api
