// The ext2 core against bad requests and hostile images.
#include <catch.hpp>

#include "fs_env.h"

using namespace fstest;
