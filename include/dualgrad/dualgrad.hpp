#pragma once
/// \file
/// Umbrella header: the core library with its default (Eigen) backend. Optional integrations
/// (dualgrad/backend/xtensor.hpp) are included separately.

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/backend/eigen.hpp"
#include "dualgrad/backend/ops.hpp"
#include "dualgrad/box.hpp"
#include "dualgrad/core/cem.hpp"
#include "dualgrad/core/cost.hpp"
#include "dualgrad/core/layer_gradients.hpp"
#include "dualgrad/core/methods.hpp"
#include "dualgrad/core/pcs.hpp"
#include "dualgrad/core/targets.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/map2d.hpp"
