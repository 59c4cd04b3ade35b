#pragma once
/// \file
/// Images: the type (io/image_types.hpp), files in and out (io/image_codec.hpp, the dualgrad::image component), the
/// preprocessing a classifier needs (io/preprocess.hpp) and drawing (io/render.hpp). Include the
/// part you need, or this header for all of them.
#include "dualgrad/io/image_codec.hpp"
#include "dualgrad/io/image_types.hpp"
#include "dualgrad/io/preprocess.hpp"
#include "dualgrad/io/render.hpp"
