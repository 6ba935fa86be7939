#include "lib/maildir_quota.hpp"
