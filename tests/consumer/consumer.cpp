// A consumer of the installed (or add_subdirectory'd) dualgrad: computes a DGL map and its box.
#include <cstdio>

#include <dualgrad/dualgrad.hpp>

int main() {
    using B = dualgrad::EigenBackend;
    const dualgrad::Shape4 s{1, 2, 1, 2};
    const auto S = B::from_host(s, std::vector<float>{1, 2, 3, 4});
    const auto G = B::from_host(s, std::vector<float>{1, 0, 0, 1});
    const auto map = B::to_host(dualgrad::PixelClassSelector<B>{}(S, G));
    std::printf("PCS map: %g %g\n", map[0], map[1]);
    return (map[0] == 1.0f && map[1] == 4.0f) ? 0 : 1;
}
