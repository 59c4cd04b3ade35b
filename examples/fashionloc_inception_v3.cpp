// inception_v3 end to end on the CPU engine: the bundled FashionLoc inception_v3 (or your weights), one image,
// DGL at Mixed_6b, the box and the overlay. See fashionloc_example.hpp.
//
//   example_fashionloc_inception_v3 [IMAGE [WEIGHTS [LAYER [OUT.png]]]]
#include "fashionloc_example.hpp"

int main(int argc, char** argv) { return run_fashionloc_example("inception_v3", "Mixed_6b", argc, argv); }
