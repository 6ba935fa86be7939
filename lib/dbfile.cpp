#include "lib/dbfile.hpp"
