#pragma once
/// \file
/// Every layer of the CPU engine (umbrella header).

#include "dualgrad/nn/activation.hpp"
#include "dualgrad/nn/batchnorm.hpp"
#include "dualgrad/nn/conv.hpp"
#include "dualgrad/nn/layer.hpp"
#include "dualgrad/nn/linear.hpp"
#include "dualgrad/nn/merge.hpp"
#include "dualgrad/nn/parallel.hpp"
#include "dualgrad/nn/pooling.hpp"
#include "dualgrad/nn/squeeze_excitation.hpp"
