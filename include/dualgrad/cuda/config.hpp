#pragma once
/// \file
/// Whether this build of dualgrad has its CUDA kernels (`DUALGRAD_WITH_CUDA`, set by the
/// `dualgrad::cuda` CMake target), and the error for asking for CUDA in a build without it.

#include <string_view>

#include "dualgrad/error.hpp"

namespace dualgrad::cuda {

#ifdef DUALGRAD_WITH_CUDA
inline constexpr bool built_with_cuda = true;
#else
inline constexpr bool built_with_cuda = false;
#endif

/// Throws `value_error` naming `what` when dualgrad was built without its CUDA kernels.
inline void require_cuda_build(std::string_view what) {
    if (!built_with_cuda)
        detail::raise<value_error>(what, " needs CUDA, but this build of dualgrad has no CUDA kernels: "
                                         "configure with -DDUALGRAD_WITH_CUDA=ON and link dualgrad::cuda");
}

} // namespace dualgrad::cuda
