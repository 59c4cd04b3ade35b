#pragma once
/// \file
/// The evaluation as a library: `eval::evaluate` (a classifier on a dataset, every method at every
/// layer, every protocol), box protocols as types (`eval::BoxProtocol`), `eval::score` of saved
/// maps, and the mergeable counts (`eval::Runs`).
#include "dualgrad/eval/evaluate.hpp"
#include "dualgrad/eval/maps.hpp"
#include "dualgrad/eval/protocol.hpp"
#include "dualgrad/eval/runs.hpp"
