#pragma once
/// \file
/// Umbrella header: the core map math with its default (Eigen) backend, the box protocols and
/// the metrics. Optional integrations
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
#include "dualgrad/core/score_maps.hpp"
#include "dualgrad/core/targets.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/localize/box_extractor.hpp"
#include "dualgrad/localize/contours.hpp"
#include "dualgrad/localize/normalize.hpp"
#include "dualgrad/localize/resize.hpp"
#include "dualgrad/map2d.hpp"
#include "dualgrad/metrics/loc_metrics.hpp"
#include "dualgrad/thresholds.hpp"
