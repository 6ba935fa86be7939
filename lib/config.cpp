#include "lib/config.hpp"
