#include "lib/maildir.hpp"
