#include <gtest/gtest.h>

#include "mc/explorer.h"
