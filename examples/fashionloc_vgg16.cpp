// vgg16 end to end on the CPU engine: the bundled FashionLoc vgg16 (or your weights), one image,
// DGL at conv5_1, the box and the overlay. See fashionloc_example.hpp.
//
//   example_fashionloc_vgg16 [IMAGE [WEIGHTS [LAYER [OUT.png]]]]
#include "fashionloc_example.hpp"

int main(int argc, char** argv) { return run_fashionloc_example("vgg16", "conv5_1", argc, argv); }
