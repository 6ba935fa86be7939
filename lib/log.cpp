#include "lib/log.hpp"
