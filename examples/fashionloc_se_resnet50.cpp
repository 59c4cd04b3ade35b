// se_resnet50 end to end on the CPU engine: the bundled FashionLoc se_resnet50 (or your weights), one image,
// DGL at layer3.5, the box and the overlay. See fashionloc_example.hpp.
//
//   example_fashionloc_se_resnet50 [IMAGE [WEIGHTS [LAYER [OUT.png]]]]
#include "fashionloc_example.hpp"

int main(int argc, char** argv) { return run_fashionloc_example("se_resnet50", "layer3.5", argc, argv); }
