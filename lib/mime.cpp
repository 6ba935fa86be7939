#include "lib/mime.hpp"
