#include "lib/process.hpp"
