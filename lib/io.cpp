#include "lib/io.hpp"
