#pragma once
#include <cstddef>
#include <string>

namespace dgbench::gpu {
std::string device_name();                           // empty without a usable GPU
double dgl_ms(int N, int K, int HW, int iters);      // fused DGL kernel, ms per call
double copy_ms(std::size_t bytes, int iters);        // device-to-device copy, ms per call
} // namespace dgbench::gpu
