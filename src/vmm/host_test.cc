#include "vmm/host.h"

#include <gtest/gtest.h>

namespace blixard::vmm {
namespace {

const char kCpuinfoPvm[] =
    "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu MHz\t\t: 2596.132\n"
    "flags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n\n"
    "processor\t: 1\ncpu MHz\t\t: 1200.000\nflags\t\t: fpu vmx\n";

TEST(Host, TscKhzIsTheFirstCpuMhzTimesThousand) {
  EXPECT_EQ(ParseCpuinfoTscKhz(kCpuinfoPvm), 2596132u);
  EXPECT_EQ(ParseCpuinfoTscKhz("processor : 0\n"), 0u);
  EXPECT_EQ(ParseCpuinfoTscKhz("cpu MHz : bogus\n"), 0u);
}

TEST(Host, VirtualizationFlagsComeFromTheFirstCpu) {
  EXPECT_FALSE(CpuinfoHasVirtualization(kCpuinfoPvm));
  EXPECT_TRUE(CpuinfoHasVirtualization("flags\t\t: fpu vmx sse\n"));
  EXPECT_TRUE(CpuinfoHasVirtualization("flags\t: svm\n"));
  EXPECT_FALSE(CpuinfoHasVirtualization("flags\t: vmxnet svmx\n"));
}

TEST(Host, ExplicitAccelIsKept) {
  EXPECT_EQ(ResolveAccel(Accel::kTcg), Accel::kTcg);
  EXPECT_EQ(ResolveAccel(Accel::kKvm), Accel::kKvm);
}

TEST(Host, AutoPicksKvmOnlyWhenUsable) {
  std::string why;
  bool usable = KvmUsable(&why);
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(ResolveAccel(Accel::kAuto), usable ? Accel::kKvm : Accel::kTcg) << why;
  EXPECT_GT(HostTscKhz(), 0u);
}

}  // namespace
}  // namespace blixard::vmm
