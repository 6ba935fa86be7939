#include "lib/rfc5322.hpp"
